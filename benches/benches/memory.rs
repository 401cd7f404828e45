//! `memory_latency`: one load that depends on the one before, through working sets from 32 KiB
//! to 256 MiB, read in a random order. What a load costs at each size is the floor under a
//! route whose data is that far away: a key not seen lately must find its values among those of
//! 100 000 bindings, data of tens of MiB, so its route waits for at least one such load
//! (docs/benchmarks-router.md).

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use warren_benches::memory::{pointer_chain, LINE};

const KIB: usize = 1024;

fn memory_latency(c: &mut Criterion) {
    let mut group = c.benchmark_group("memory_latency");
    group.throughput(Throughput::Elements(1));
    for kib in [
        32,
        256,
        1024,
        4 * KIB,
        8 * KIB,
        16 * KIB,
        64 * KIB,
        256 * KIB,
    ] {
        let chain = pointer_chain(kib * KIB);
        let mut at = 0;
        // Once round the cycle (a link per line) first, so that the pages are mapped and the
        // caches hold what they can.
        for _ in 0..kib * KIB / LINE {
            at = chain[at];
        }
        group.bench_function(BenchmarkId::new("dependent_load_kib", kib), |b| {
            b.iter(|| {
                at = chain[black_box(at)];
                at
            })
        });
    }
    group.finish();
}

criterion_group!(benches, memory_latency);
criterion_main!(benches);
