//! The ladder's promises about its own size, checked on the files (no sockets): each step is at
//! most 700 lines of Rust (SPEC §12), and docs/LADDER.md's table of steps says how many each
//! has, so its figures cannot drift from the code.

use std::path::Path;

const ROOT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/..");

/// The lines of Rust in `ladder/stepN/`.
fn step_lines(n: usize) -> usize {
    let dir = Path::new(ROOT).join(format!("ladder/step{n}"));
    std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|e| e == "rs"))
        .map(|path| std::fs::read_to_string(path).unwrap().lines().count())
        .sum()
}

#[test]
fn every_step_fits_in_700_lines_and_the_ladder_page_says_how_many() {
    let doc = std::fs::read_to_string(Path::new(ROOT).join("docs/LADDER.md")).unwrap();
    for n in 0..chatroom_ladder::STEPS.len() {
        let lines = step_lines(n);
        assert!(lines <= 700, "step {n} has {lines} lines, over 700");
        // Its row: `| N | idea | what changes | LINES |`.
        let row = doc
            .lines()
            .find(|l| l.starts_with(&format!("| {n} | ")))
            .unwrap_or_else(|| panic!("docs/LADDER.md has no row for step {n}"));
        let stated = row.trim_end_matches('|').rsplit('|').next().unwrap().trim();
        assert_eq!(stated, lines.to_string(), "docs/LADDER.md's line count for step {n}");
    }
}
