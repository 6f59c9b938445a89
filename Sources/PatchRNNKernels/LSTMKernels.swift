// One LSTM time step for a block of rows, forward and backward, on raw buffers.
// Gate order i, f, g, o (PyTorch). Shapes, per row r of `rows`, H = hidden:
//   gates  [rows x 4H]  in: x W_ih^T + h W_hh^T (without bias); out: activated i, f, g, o
//   bias   [4H]         b_ih + b_hh
//   cPrev, cOut, tanhC, hOut [rows x H]
// Forward:  i = s(a_i)  f = s(a_f)  g = tanh(a_g)  o = s(a_o)
//           c = f c_prev + i g     h = o tanh(c)
// Backward: dc = dc_next + dh o (1 - tanh(c)^2)
//           da_i = dc g i(1-i)  da_f = dc c_prev f(1-f)  da_g = dc i (1-g^2)  da_o = dh tanh(c) o(1-o)
//           dc_prev = dc f
// The nonlinearities run right after the recurrent GEMM while the block is in cache.

public func lstmCellForward(
    rows: Int, hidden: Int,
    gates: UnsafeMutablePointer<Float>, bias: UnsafePointer<Float>,
    cPrev: UnsafePointer<Float>, cOut: UnsafeMutablePointer<Float>,
    tanhC: UnsafeMutablePointer<Float>, hOut: UnsafeMutablePointer<Float>
) {
    let h = hidden
    for r in 0..<rows {
        let g = gates + r * 4 * h
        let cp = cPrev + r * h, cn = cOut + r * h, tc = tanhC + r * h, ho = hOut + r * h
        var j = 0
        while j + 8 <= h {
            let ig = fastSigmoid(load8(g + j) + load8(bias + j))
            let fg = fastSigmoid(load8(g + h + j) + load8(bias + h + j))
            let gg = fastTanh(load8(g + 2 * h + j) + load8(bias + 2 * h + j))
            let og = fastSigmoid(load8(g + 3 * h + j) + load8(bias + 3 * h + j))
            let c = fg * load8(cp + j) + ig * gg
            let t = fastTanh(c)
            store8(ig, g + j)
            store8(fg, g + h + j)
            store8(gg, g + 2 * h + j)
            store8(og, g + 3 * h + j)
            store8(c, cn + j)
            store8(t, tc + j)
            store8(og * t, ho + j)
            j += 8
        }
        while j < h {
            let ig = fastSigmoid(g[j] + bias[j])
            let fg = fastSigmoid(g[h + j] + bias[h + j])
            let gg = fastTanh(g[2 * h + j] + bias[2 * h + j])
            let og = fastSigmoid(g[3 * h + j] + bias[3 * h + j])
            let c = fg * cp[j] + ig * gg
            let t = fastTanh(c)
            g[j] = ig
            g[h + j] = fg
            g[2 * h + j] = gg
            g[3 * h + j] = og
            cn[j] = c
            tc[j] = t
            ho[j] = og * t
            j += 1
        }
    }
}

/// `dh` = dL/dh_t (the sum of what flows from above and from step t+1); `dc` holds dL/dc_t
/// from step t+1 on entry and dL/dc_{t-1} on exit. Reads the activated gates in `layout`'s
/// order (grouped, as the fused forward leaves them, or PyTorch's); writes the pre-activation
/// gradients in PyTorch's order.
public func lstmCellBackward(
    rows: Int, hidden: Int, layout: GateLayout,
    gates: UnsafePointer<Float>, cPrev: UnsafePointer<Float>, tanhC: UnsafePointer<Float>,
    dhAbove: UnsafePointer<Float>, dhRecurrent: UnsafePointer<Float>,
    dc: UnsafeMutablePointer<Float>, dGates: UnsafeMutablePointer<Float>
) {
    let h = hidden, u = layout.units
    let one = V8(repeating: 1)
    for r in 0..<rows {
        let gr = gates + r * 4 * h, dg = dGates + r * 4 * h
        let cp = cPrev + r * h, tc = tanhC + r * h
        let dha = dhAbove + r * h, dhr = dhRecurrent + r * h, dcr = dc + r * h
        var j = 0
        while j + 8 <= h {
            let g = gr + layout.base(unit: j)
            let ig = load8(g), fg = load8(g + u), gg = load8(g + 2 * u), og = load8(g + 3 * u)
            let t = load8(tc + j)
            let dh = load8(dha + j) + load8(dhr + j)
            let dcv = load8(dcr + j) + dh * og * (one - t * t)
            store8(dcv * gg * ig * (one - ig), dg + j)
            store8(dcv * load8(cp + j) * fg * (one - fg), dg + h + j)
            store8(dcv * ig * (one - gg * gg), dg + 2 * h + j)
            store8(dh * t * og * (one - og), dg + 3 * h + j)
            store8(dcv * fg, dcr + j)
            j += 8
        }
        while j < h {
            let g = gr + layout.base(unit: j)
            let ig = g[0], fg = g[u], gg = g[2 * u], og = g[3 * u]
            let t = tc[j]
            let dh = dha[j] + dhr[j]
            let dcv = dcr[j] + dh * og * (1 - t * t)
            dg[j] = dcv * gg * ig * (1 - ig)
            dg[h + j] = dcv * cp[j] * fg * (1 - fg)
            dg[2 * h + j] = dcv * ig * (1 - gg * gg)
            dg[3 * h + j] = dh * t * og * (1 - og)
            dcr[j] = dcv * fg
            j += 1
        }
    }
}
