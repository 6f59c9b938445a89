/// Which part of the parameter vector each worker owns for the gradient sum and Adam.
///
/// After the shards are computed, worker w sums its slice over every shard buffer (in shard
/// order) and applies Adam to that slice of the weights, so the slices must cover the padded
/// parameter vector exactly once whatever the worker count. They are whole blocks of 64 floats
/// (256 bytes: four cache lines, so no two workers write the same line, and every element
/// takes the same path through the kernel whatever the count), dealt in balanced contiguous
/// runs: each worker gets floor or ceil(blocks / workers) blocks, never an empty slice while
/// another has two blocks more. Worker numbers follow the machine's order (`PlacementPlan`),
/// so the workers of one NUMA node own one contiguous run of the vector, which the engine's
/// first touch then places on that node.
package enum SumSlices {
    /// Floats per block (`ParameterLayout.alignment`).
    package static let block = ParameterLayout.alignment

    /// Worker `w`'s slice of a padded vector of `count` floats (a multiple of `block`) shared
    /// by `workers` workers; empty only when there are more workers than blocks.
    package static func range(worker w: Int, workers: Int, count: Int) -> Range<Int> {
        precondition(workers >= 1 && w >= 0 && w < workers && count % block == 0)
        let blocks = count / block
        return (w * blocks / workers * block)..<((w + 1) * blocks / workers * block)
    }
}
