//! Render time per built-in profile, in process: values layering and validation, the plan,
//! and the YAML stream (everything `cococtl render` does between reading and printing).
//! Whole-process figures: `scripts/bench-render`.

use cococtl_manifests::{emit, plan, ClusterFacts};
use cococtl_profile::{builtin, resolve, Inputs};
use criterion::{criterion_group, criterion_main, Criterion};

/// `remote` needs a peer-pods provider: the libvirt values of the render tests.
const LIBVIRT: &str = include_str!("../../cli/tests/fixtures/peerpods/libvirt.yaml");

fn render(profile: &str) -> usize {
    let files = if profile == "remote" {
        vec![("libvirt.yaml".to_string(), LIBVIRT.to_string())]
    } else {
        vec![]
    };
    let inputs = Inputs {
        profile: Some((
            profile.to_string(),
            builtin::source(profile).unwrap_or_default().to_string(),
        )),
        files,
        namespace: "coco-system".into(),
        ..Default::default()
    };
    let resolved = resolve(&inputs).expect("built-in profile resolves");
    let p = plan(&resolved.config, ClusterFacts::default());
    emit::yaml(p.install()).len()
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("render");
    for name in builtin::names() {
        g.bench_function(name, |b| b.iter(|| render(std::hint::black_box(name))));
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
