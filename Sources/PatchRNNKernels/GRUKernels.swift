// One GRU time step for a block of rows, forward and backward, on raw buffers, as PyTorch's
// nn.GRU computes it. Gate order r, z, n. Shapes, per row of `rows`, H = hidden:
//   gates   [rows x 3H]  in: x W_ih^T (no bias); out: activated r, z, n
//   hh      [rows x 3H]  h_{t-1} W_hh^T (no bias)
//   biasSum [3H] b_ih + b_hh (its r and z parts);  biasIH, biasHH [3H] (their n parts)
//   hPrev, hOut, hiddenN [rows x H]
// Forward:  r = s(a_ir + a_hr + b_r)   z = s(a_iz + a_hz + b_z)
//           hn = a_hn + b_hn           n = tanh(a_in + b_in + r hn)
//           h = n + z (h_prev - n)     (= (1 - z) n + z h_prev, as PyTorch evaluates it)
// Backward: dn = dh (1 - z)   dz = dh (h_prev - n)   dn_pre = dn (1 - n^2)
//           dr_pre = dn_pre hn r (1 - r)   dz_pre = dz z (1 - z)
//           input projection: [dr_pre, dz_pre, dn_pre]; hidden projection: [dr_pre, dz_pre, r dn_pre]
//           dh_prev = dh z + (hidden projection gradient) W_hh  (the product is the caller's GEMM)
// The reset gate multiplies the hidden projection of n only, so that part cannot be added into
// the input projection's block as the LSTM does: the two projections stay separate buffers.

public func gruCellForward(
    rows: Int, hidden: Int,
    gates: UnsafeMutablePointer<Float>, hh: UnsafePointer<Float>,
    biasSum: UnsafePointer<Float>, biasIH: UnsafePointer<Float>, biasHH: UnsafePointer<Float>,
    hPrev: UnsafePointer<Float>, hOut: UnsafeMutablePointer<Float>, hiddenN: UnsafeMutablePointer<Float>
) {
    let h = hidden, h2 = 2 * hidden
    for row in 0..<rows {
        let g = gates + row * 3 * h, a = hh + row * 3 * h
        let hp = hPrev + row * h, ho = hOut + row * h, hn = hiddenN + row * h
        var j = 0
        while j + 8 <= h {
            let r = fastSigmoid(load8(g + j) + load8(a + j) + load8(biasSum + j))
            let z = fastSigmoid(load8(g + h + j) + load8(a + h + j) + load8(biasSum + h + j))
            let hnv = load8(a + h2 + j) + load8(biasHH + h2 + j)
            let n = fastTanh((load8(g + h2 + j) + load8(biasIH + h2 + j)).addingProduct(r, hnv))
            let out = n.addingProduct(z, load8(hp + j) - n)
            store8(r, g + j)
            store8(z, g + h + j)
            store8(n, g + h2 + j)
            store8(hnv, hn + j)
            store8(out, ho + j)
            j += 8
        }
        while j < h {
            let r = fastSigmoid(g[j] + a[j] + biasSum[j])
            let z = fastSigmoid(g[h + j] + a[h + j] + biasSum[h + j])
            let hnv = a[h2 + j] + biasHH[h2 + j]
            let n = fastTanh((g[h2 + j] + biasIH[h2 + j]).addingProduct(r, hnv))
            let out = n.addingProduct(z, hp[j] - n)
            g[j] = r
            g[h + j] = z
            g[h2 + j] = n
            hn[j] = hnv
            ho[j] = out
            j += 1
        }
    }
}

/// `dhRecurrent` holds dL/dh_t from step t+1 (through the hidden projection and the direct
/// z path) on entry and the direct part dh z on exit (the caller adds dHidden W_hh to it).
/// Reads the activated gates in `layout`'s order (grouped, as the fused forward leaves them,
/// or PyTorch's); writes the gradients of the input and the hidden projection (pre-activation)
/// of this step in PyTorch's order.
public func gruCellBackward(
    rows: Int, hidden: Int, layout: GateLayout,
    gates: UnsafePointer<Float>, hiddenN: UnsafePointer<Float>, hPrev: UnsafePointer<Float>,
    dhAbove: UnsafePointer<Float>, dhRecurrent: UnsafeMutablePointer<Float>,
    dInput: UnsafeMutablePointer<Float>, dHidden: UnsafeMutablePointer<Float>
) {
    let h = hidden, h2 = 2 * hidden, u = layout.units
    let one = V8(repeating: 1)
    for row in 0..<rows {
        let gr = gates + row * 3 * h, hn = hiddenN + row * h, hp = hPrev + row * h
        let dha = dhAbove + row * h, dhr = dhRecurrent + row * h
        let di = dInput + row * 3 * h, dhh = dHidden + row * 3 * h
        var j = 0
        while j + 8 <= h {
            let g = gr + layout.base(unit: j)
            let r = load8(g), z = load8(g + u), n = load8(g + 2 * u)
            let dh = load8(dha + j) + load8(dhr + j)
            let dnPre = dh * (one - z) * (one - n * n)
            let drPre = dnPre * load8(hn + j) * r * (one - r)
            let dzPre = dh * (load8(hp + j) - n) * z * (one - z)
            store8(drPre, di + j)
            store8(dzPre, di + h + j)
            store8(dnPre, di + h2 + j)
            store8(drPre, dhh + j)
            store8(dzPre, dhh + h + j)
            store8(dnPre * r, dhh + h2 + j)
            store8(dh * z, dhr + j)
            j += 8
        }
        while j < h {
            let g = gr + layout.base(unit: j)
            let r = g[0], z = g[u], n = g[2 * u]
            let dh = dha[j] + dhr[j]
            let dnPre = dh * (1 - z) * (1 - n * n)
            let drPre = dnPre * hn[j] * r * (1 - r)
            let dzPre = dh * (hp[j] - n) * z * (1 - z)
            di[j] = drPre
            di[h + j] = dzPre
            di[h2 + j] = dnPre
            dhh[j] = drPre
            dhh[h + j] = dzPre
            dhh[h2 + j] = dnPre * r
            dhr[j] = dh * z
            j += 1
        }
    }
}
