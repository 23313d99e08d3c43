//! The fuzz targets' kept inputs, run again on every build: the corpus that `scripts/fuzz`
//! grew, and every input that once broke a property (fuzz/regressions). Then the same scripts,
//! changed at random by proptest, drive the same state machines.

use lanmeet::fuzzing::TARGETS;
use proptest::prelude::*;
use std::path::{Path, PathBuf};

fn inputs(folder: &str, target: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz").join(folder).join(target);
    let Ok(entries) = std::fs::read_dir(&dir) else { return Vec::new() };
    let mut files: Vec<PathBuf> = entries.map(|e| e.expect("readable folder").path()).collect();
    files.sort();
    files.into_iter().map(|path| (path.clone(), std::fs::read(&path).expect("readable input"))).collect()
}

/// Runs every kept input of every target; names the input that breaks a property.
fn run_all(folder: &str) -> usize {
    let mut count = 0;
    for &(target, run) in TARGETS {
        for (path, data) in inputs(folder, target) {
            if std::panic::catch_unwind(|| run(&data)).is_err() {
                panic!("{target}: {} breaks a property", path.display());
            }
            count += 1;
        }
    }
    count
}

#[test]
fn every_corpus_input_keeps_its_properties() {
    // Every target has at least its hand-made starting inputs.
    for &(target, _) in TARGETS {
        assert!(!inputs("corpus", target).is_empty(), "fuzz/corpus/{target} is empty");
    }
    assert!(run_all("corpus") >= TARGETS.len());
}

#[test]
fn every_input_that_once_failed_passes() {
    run_all("regressions");
}

/// A kept input of `target` changed in a few places: bytes replaced, inserted and removed.
fn mutated(target: &'static str) -> impl Strategy<Value = Vec<u8>> {
    let corpus: Vec<Vec<u8>> = inputs("corpus", target).into_iter().map(|(_, data)| data).collect();
    let count = corpus.len().max(1);
    (0..count, prop::collection::vec((any::<u16>(), any::<u8>(), 0u8..3), 0..12)).prop_map(move |(pick, edits)| {
        let mut data = corpus.get(pick).cloned().unwrap_or_default();
        for (at, byte, kind) in edits {
            let at = usize::from(at) % (data.len() + 1);
            match kind {
                0 if at < data.len() => data[at] = byte,
                1 => data.insert(at, byte),
                _ if at < data.len() => {
                    data.remove(at);
                }
                _ => data.push(byte),
            }
        }
        data
    })
}

/// Every target, 128 variations of its kept inputs each; a failure names the target and the
/// smallest variation proptest found.
#[test]
fn kept_inputs_changed_at_random_keep_their_properties() {
    for &(target, run) in TARGETS {
        let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig { cases: 128, ..ProptestConfig::default() });
        if let Err(e) = runner.run(&mutated(target), |data| {
            run(&data);
            Ok(())
        }) {
            panic!("{target}: {e}");
        }
    }
}
