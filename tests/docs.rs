//! The docs cannot rot as code moves: every file, Rust item and test that the README and
//! `docs/*.md` name in backticks must exist. No sockets, no server: it reads the files.
//!
//! What is checked, in `code spans` outside fenced blocks:
//! - a path such as `src/registry.rs` or `tests/chat.rs`: the file exists;
//! - a Rust path such as `registry::Registry::join` or `Registry::join`: its module file
//!   defines the item, and the item the member (a method, a variant, a field);
//! - a name of four or more snake_case words, such as a test's: it occurs in `src/`, `tests/`
//!   or `ladder/`.
//!
//! Also: PROTOCOL.md states the version the code speaks, and every line of the Python original
//! the docs cite (`(server 63)`, `| client 83, 103 |`, a row of PYTHON_TO_RUST's tables)
//! exists at de5e0f5, when the original is at hand (`ORIGINAL_DIR`, or a clone in
//! `original/`; without it that check says it was skipped).

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// Every `.rs` file under `dir`, at any depth.
fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(dir) = stack.pop() {
        for entry in fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                files.push(path);
            }
        }
    }
    files
}

/// The crate's modules, as paths (`client::link`), with their source text.
fn modules() -> BTreeMap<String, String> {
    let src = Path::new(ROOT).join("src");
    let module_of = |path: &Path| {
        let rel = path.strip_prefix(&src).unwrap().with_extension("");
        rel.to_string_lossy().replace('/', "::")
    };
    rust_files(&src).iter().map(|p| (module_of(p), fs::read_to_string(p).unwrap())).collect()
}

/// Every source file of `src/`, `tests/` and the ladder (`ladder/`), concatenated.
fn all_code(modules: &BTreeMap<String, String>) -> String {
    let mut code: String = modules.values().map(String::as_str).collect();
    let (tests, ladder) = (Path::new(ROOT).join("tests"), Path::new(ROOT).join("ladder"));
    for path in rust_files(&tests).into_iter().chain(rust_files(&ladder)) {
        code.push_str(&fs::read_to_string(&path).unwrap());
    }
    code
}

/// The code spans of a Markdown text, outside fenced code blocks, with their line numbers.
fn code_spans(text: &str) -> Vec<(usize, String)> {
    let mut spans = Vec::new();
    let mut fenced = false;
    for (n, line) in text.lines().enumerate() {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
            continue;
        }
        if fenced {
            continue;
        }
        let parts: Vec<&str> = line.split('`').collect();
        // Odd parts are inside backticks (a line with an unmatched backtick has an even count).
        for part in parts.iter().skip(1).step_by(2).take((parts.len() - 1) / 2) {
            spans.push((n + 1, part.to_string()));
        }
    }
    spans
}

fn is_ident(s: &str) -> bool {
    !s.is_empty()
        && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !s.starts_with(|c: char| c.is_ascii_digit())
}

/// Does `code` define `name` as an item (a function, a type, a constant...)?
fn defines_item(code: &str, name: &str) -> bool {
    let item_words = ["fn", "struct", "enum", "trait", "type", "const", "static", "mod"];
    code.lines().any(|line| {
        let words: Vec<&str> = line
            .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .filter(|w| !w.is_empty())
            .collect();
        words.windows(2).any(|w| item_words.contains(&w[0]) && w[1] == name)
    })
}

/// Does `code` define `name` as an item, a method, a variant or a field?
fn defines(code: &str, name: &str) -> bool {
    defines_item(code, name)
        || code.lines().any(|line| {
            // A variant or a field: the name first on its line, then `(`, `{`, `,`, `:` or `=`.
            let trimmed =
                line.trim_start().trim_start_matches("pub ").trim_start_matches("pub(crate) ");
            trimmed.strip_prefix(name).is_some_and(|rest| {
                let rest = rest.trim_start();
                rest.starts_with(['(', '{', ',', '='])
                    || (rest.starts_with(':') && !rest.starts_with("::"))
                    || rest.is_empty()
            })
        })
}

/// The bodies of `ty`'s definition (`struct`, `enum`, `trait`, `mod`) and of its `impl` blocks
/// (`impl Ty`, `impl Trait for Ty`), each from its header line to the matching closing brace,
/// with whether it is an `impl` (where only items count: a field's name in a struct literal is
/// not a member).
fn blocks_of<'a>(code: &'a str, ty: &str) -> Vec<(bool, &'a str)> {
    let words = |line: &str| -> Vec<String> {
        line.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .filter(|w| !w.is_empty())
            .map(str::to_owned)
            .collect()
    };
    let mut blocks = Vec::new();
    let mut offset = 0;
    for line in code.split_inclusive('\n') {
        let start = offset;
        offset += line.len();
        let head = line.split('{').next().unwrap_or(line);
        let w = words(head);
        let defined = w
            .windows(2)
            .any(|p| ["struct", "enum", "trait", "mod"].contains(&p[0].as_str()) && p[1] == ty);
        // `impl Ty`, `impl<T> Ty<T>`, `impl Trait for Ty`: the type after `for`, else after
        // `impl` (generic parameters skipped).
        let implemented = line.trim_start().starts_with("impl") && {
            let after = match head.split_once(" for ") {
                Some((_, after)) => after,
                None => head.trim_start().trim_start_matches("impl").trim_start(),
            };
            let after = if after.starts_with('<') {
                after.split_once('>').map_or("", |(_, rest)| rest)
            } else {
                after
            };
            words(after).first().is_some_and(|first| first == ty)
        };
        if !(defined || implemented) {
            continue;
        }
        // From the header to the brace that closes the first one opened.
        let mut depth = 0i32;
        let mut opened = false;
        for (i, c) in code[start..].char_indices() {
            match c {
                '{' => {
                    depth += 1;
                    opened = true;
                }
                '}' => depth -= 1,
                ';' if !opened => break,
                _ => {}
            }
            if opened && depth == 0 {
                blocks.push((implemented && !defined, &code[start..start + i + 1]));
                break;
            }
        }
    }
    blocks
}

/// Why a Rust path named in the docs does not resolve, if it does not.
fn check_path(path: &str, modules: &BTreeMap<String, String>) -> Option<String> {
    let segments: Vec<&str> = path.trim_end_matches("()").split("::").collect();
    let segments = if segments[0] == "crate" { &segments[1..] } else { &segments[..] };
    // The longest prefix that is a module; a path may also start at a type (`Registry::join`).
    let (code, rest): (String, &[&str]) =
        match (1..=segments.len()).rev().find(|k| modules.contains_key(&segments[..*k].join("::")))
        {
            Some(k) => {
                // A module's own file, and its children's (a type may live in `video/catalog.rs`
                // and be named `video::catalog::Video`, or a root re-export be used).
                let prefix = segments[..k].join("::");
                let code = modules
                    .iter()
                    .filter(|(m, _)| **m == prefix || m.starts_with(&format!("{prefix}::")))
                    .map(|(_, c)| c.as_str())
                    .collect();
                (code, &segments[k..])
            }
            None => {
                let owner = modules.values().find(|code| defines(code, segments[0]))?;
                (owner.clone(), &segments[1..])
            }
        };
    if let Some(name) = rest.iter().find(|n| !is_ident(n)) {
        return Some(format!("{name:?} is not a name"));
    }
    let (first, members) = rest.split_first()?;
    if !defines(&code, first) {
        return Some(format!("nothing defines {first}"));
    }
    // A member is looked for in its type's own definition and `impl` blocks, not anywhere in
    // the file: `Registry::members` must be `Registry`'s. Then the next one in that member's
    // type, if it names one (`ServerMsg::Chat` then a field), else in the same blocks.
    let mut owner = first.to_string();
    for member in members {
        let blocks = blocks_of(&code, &owner);
        if blocks.is_empty() {
            return Some(format!("{owner} is not a type with members"));
        }
        let has = |(is_impl, block): &(bool, &str)| {
            if *is_impl { defines_item(block, member) } else { defines(block, member) }
        };
        if !blocks.iter().any(has) {
            return Some(format!("{owner} has no {member}"));
        }
        if !blocks_of(&code, member).is_empty() {
            owner = member.to_string();
        }
    }
    None
}

fn looks_like_rust_path(span: &str, modules: &BTreeMap<String, String>) -> bool {
    let span = span.trim_end_matches("()");
    let segments: Vec<&str> = span.split("::").collect();
    segments.len() >= 2
        && segments.iter().all(|s| is_ident(s))
        && (modules.contains_key(segments[0])
            || segments[0] == "crate"
            || (segments[0].starts_with(|c: char| c.is_ascii_uppercase())
                && modules.values().any(|code| defines(code, segments[0]))))
}

/// A snake_case name of four or more words: a test, most often.
fn looks_like_long_name(span: &str) -> bool {
    is_ident(span)
        && span.chars().all(|c| !c.is_ascii_uppercase())
        && span.matches('_').count() >= 3
}

fn looks_like_file(span: &str) -> bool {
    ["src/", "tests/", "docs/", "scripts/", "videos/"].iter().any(|p| span.starts_with(p))
        && !span.contains(['*', ' ', '{', '<'])
}

fn documents() -> Vec<PathBuf> {
    let mut docs = vec![PathBuf::from(ROOT).join("README.md")];
    for entry in fs::read_dir(Path::new(ROOT).join("docs")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "md") {
            docs.push(path);
        }
    }
    docs.sort();
    docs
}

#[test]
fn every_file_item_and_test_the_docs_name_exists() {
    let modules = modules();
    let code = all_code(&modules);
    let mut wrong = Vec::new();
    let mut checked = 0;
    for doc in documents() {
        let text = fs::read_to_string(&doc).unwrap();
        let name = doc.file_name().unwrap().to_string_lossy().into_owned();
        for (line, span) in code_spans(&text) {
            let problem = if looks_like_file(&span) {
                let path = span.split(':').next().unwrap_or(&span);
                (!Path::new(ROOT).join(path).exists()).then(|| "no such file".to_string())
            } else if looks_like_rust_path(&span, &modules) {
                check_path(&span, &modules)
            } else if looks_like_long_name(&span) {
                let word = |i: usize| {
                    let before = code[..i].chars().next_back();
                    let after = code[i + span.len()..].chars().next();
                    let inside =
                        |c: Option<char>| c.is_some_and(|c| c.is_alphanumeric() || c == '_');
                    !inside(before) && !inside(after)
                };
                let found = code.match_indices(span.as_str()).any(|(i, _)| word(i));
                (!found).then(|| "not in src/, tests/ or ladder/".to_string())
            } else {
                continue;
            };
            checked += 1;
            if let Some(problem) = problem {
                wrong.push(format!("{name}:{line}: `{span}`: {problem}"));
            }
        }
    }
    assert!(checked > 50, "only {checked} names checked: is the docs check still reading them?");
    assert!(wrong.is_empty(), "the docs name things that do not exist:\n{}", wrong.join("\n"));
}

#[test]
fn the_checker_catches_what_does_not_exist() {
    let modules = modules();
    assert_eq!(check_path("registry::Registry::join", &modules), None);
    assert_eq!(check_path("Registry::join", &modules), None);
    assert_eq!(check_path("wire::ServerMsg::Directory", &modules), None);
    assert_eq!(check_path("video::catalog::split_plan", &modules), None);
    assert!(check_path("registry::Registry::teleport", &modules).is_some());
    // Names that exist in the file, but not as members of the type named.
    assert!(check_path("registry::Registry::members", &modules).is_some());
    assert!(check_path("handler::Handshake::chat", &modules).is_some());
    assert_eq!(check_path("handshake::Handshake::join", &modules), None);
    assert_eq!(check_path("client::peers::Sealer::seal_room", &modules), None);
    assert!(check_path("video::FrameSource", &modules).is_some());
    assert!(looks_like_rust_path("video::FrameSource", &modules));
    assert!(!looks_like_rust_path("std::net::TcpListener", &modules));
    assert_eq!(
        code_spans("a `x` b `y::z`\n```\n`not`\n```\nc `w`"),
        vec![(1, "x".into()), (1, "y::z".into()), (5, "w".into())]
    );
}

#[test]
fn protocol_md_states_the_version_the_code_speaks() {
    let doc = fs::read_to_string(Path::new(ROOT).join("docs/PROTOCOL.md")).unwrap();
    let version = chatroom::wire::VERSION.to_string();
    // The version the page announces, and the one its handshake diagram sends.
    let stated = doc.split("Version: **").nth(1).and_then(|rest| rest.split("**").next());
    assert_eq!(stated, Some(version.as_str()), "PROTOCOL.md's 'Version: **N**'");
    let diagram = doc.split("HELO magic \"CHRM\", version ").nth(1);
    let sent = diagram.and_then(|rest| rest.split_whitespace().next());
    assert_eq!(sent, Some(version.as_str()), "the handshake diagram's version");
}

/// The original's three files, by the short name the docs cite them with.
const ORIGINAL_FILES: [(&str, &str); 3] =
    [("server", "210030039_server.py"), ("client", "210030039_client.py"), ("utils", "utils.py")];

/// The original's files at de5e0f5, from `ORIGINAL_DIR` or `original/` (a clone, as
/// `scripts/fetch-original.sh` makes, or a folder of its files); `None` when there is neither.
fn original_sources() -> Option<BTreeMap<&'static str, String>> {
    let dir = std::env::var("ORIGINAL_DIR")
        .ok()
        .or_else(|| Some(format!("{ROOT}/original")).filter(|d| Path::new(d).exists()))?;
    let mut files = BTreeMap::new();
    for (short, name) in ORIGINAL_FILES {
        let from_git = std::process::Command::new("git")
            .args(["-C", &dir, "show", &format!("de5e0f5:{name}")])
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned());
        let text = from_git.or_else(|| fs::read_to_string(Path::new(&dir).join(name)).ok())?;
        files.insert(short, text);
    }
    Some(files)
}

/// Line numbers in `spec`: `63`, `67–68`, `128–129, 149–150` (an en dash or a hyphen).
fn cited_lines(spec: &str) -> Vec<(usize, usize)> {
    spec.split(',')
        .filter_map(|part| {
            let mut ends = part.trim().split(['–', '-']).map(|n| n.trim().parse::<usize>());
            let first = ends.next()?.ok()?;
            let last = match ends.next() {
                Some(n) => n.ok()?,
                None => first,
            };
            Some((first, last))
        })
        .collect()
}

/// Every `(FILE N)` or `(FILE N–M, ...)` citation in the docs, and every line range that
/// starts a row of PYTHON_TO_RUST's tables (the file is the section's): `(doc, line, file,
/// first, last)`.
fn citations() -> Vec<(String, usize, &'static str, usize, usize)> {
    let mut found = Vec::new();
    let mut docs: Vec<PathBuf> = vec![Path::new(ROOT).join("README.md")];
    docs.extend(fs::read_dir(Path::new(ROOT).join("docs")).unwrap().map(|e| e.unwrap().path()));
    for doc in docs.iter().filter(|p| p.extension().is_some_and(|e| e == "md")) {
        let name = doc.file_name().unwrap().to_string_lossy().into_owned();
        let text = fs::read_to_string(doc).unwrap();
        let mut section = None;
        for (i, line) in text.lines().enumerate() {
            if line.starts_with("## ") {
                section = ORIGINAL_FILES.iter().find(|(_, f)| line.contains(f)).map(|(s, _)| *s);
            }
            // `(server 63)`, and in a table's cell `| server 54, 68; client 83 |`.
            let mut marks: Vec<(String, &'static str)> = Vec::new();
            for (short, _) in ORIGINAL_FILES {
                for lead in ["(", "| ", "; "] {
                    marks.push((format!("{lead}{short} "), short));
                }
            }
            // `(line 156)` or `(lines 119–134)` in a section about one file.
            if let Some(short) = section {
                marks.push(("(lines ".into(), short));
                marks.push(("(line ".into(), short));
            }
            for (mark, short) in &marks {
                for cite in line.split(mark.as_str()).skip(1) {
                    let end = cite.find(|c: char| !c.is_ascii_digit() && !" –-,".contains(c));
                    for (a, b) in cited_lines(&cite[..end.unwrap_or(cite.len())]) {
                        found.push((name.clone(), i + 1, *short, a, b));
                    }
                }
            }
            if let (Some(short), Some(row)) = (section, line.strip_prefix("| ")) {
                let spec = row.split(" |").next().unwrap_or("");
                if spec.chars().all(|c| c.is_ascii_digit() || " –-,".contains(c)) {
                    for (a, b) in cited_lines(spec) {
                        found.push((name.clone(), i + 1, short, a, b));
                    }
                }
            }
        }
    }
    found
}

#[test]
fn every_line_of_the_original_the_docs_cite_exists_at_de5e0f5() {
    let cited = citations();
    assert!(cited.len() > 50, "the citations are found: {}", cited.len());
    let Some(files) = original_sources() else {
        eprintln!(
            "SKIPPED the check of {} citations against the original: set ORIGINAL_DIR to its \
             repository, or clone it into original/ (scripts/fetch-original.sh)",
            cited.len()
        );
        return;
    };
    let wrong: Vec<String> = cited
        .iter()
        .filter(|(_, _, file, a, b)| *a == 0 || a > b || *b > files[file].lines().count())
        .map(|(doc, line, file, a, b)| {
            let len = files[file].lines().count();
            format!("{doc}:{line}: {file} {a}-{b}, but the file has {len} lines")
        })
        .collect();
    assert!(
        wrong.is_empty(),
        "citations of lines the original does not have:\n{}",
        wrong.join("\n")
    );
}

/// How many frames the original sends after announcing `total`, for `n` files of `total`
/// frames each (server 112–157): `total % n` copies of frame 0 first, each of which makes
/// every segment one frame longer (server 134); each segment starts where the last one's
/// length says (server 155) and stops at its file's end (server 145–146).
fn original_frames_sent(total: u32, n: u32) -> u32 {
    let remain = total % n;
    let each = total / n + remain;
    let mut sent = remain;
    for segment in 0..n {
        let start = segment * each;
        sent += each.min(total.saturating_sub(start));
    }
    sent
}

/// The numbers in the docs' worked examples are the ones the code (or, for the original's, a
/// model of its lines) gives: a changed split or a miscounted example fails here.
#[test]
fn the_worked_examples_in_the_readme_and_python_to_rust_add_up() {
    let read = |doc: &str| fs::read_to_string(Path::new(ROOT).join(doc)).unwrap();
    let (readme, port) = (read("README.md"), read("docs/PYTHON_TO_RUST.md"));
    // The model against what the ladder's step 0 measures for 31 frames in three files
    // (ladder/tests/bugs.rs, `more_frames_are_sent_than_announced`): 1 + 11 + 11 + 9.
    assert_eq!(original_frames_sent(31, 3), 32);
    // "302 frames for a 301-frame video in three files" and "one more than announced".
    let sent = original_frames_sent(301, 3);
    assert_eq!(sent, 302);
    let claim = format!("{sent} frames for a 301-frame video in three files");
    assert!(port.contains(&claim), "PYTHON_TO_RUST.md should say: {claim}");
    assert!(port.contains("one more than announced for a\n  301-frame video in three files"));
    // The original's README: 902 frames in 4 resolutions, "2 frames ... then 225 of each".
    let (each, last) = (902 / 4 + 902 % 4, 902 - 3 * (902 / 4 + 902 % 4));
    let claim = format!(
        "{} of each but the last, which runs out at its file's end after {last}: {} in all",
        each,
        original_frames_sent(902, 4)
    );
    assert!(port.contains(&claim), "PYTHON_TO_RUST.md should say: {claim}");
    // The README's demo: 100 frames over three resolutions, the remainder to the first.
    let labels: Vec<String> = ["144p", "240p", "360p"].map(String::from).to_vec();
    let plan = chatroom::video::catalog::describe_plan(&chatroom::video::catalog::split_plan(
        100, &labels,
    ));
    assert_eq!(plan, "144p: 34, 240p: 33, 360p: 33");
    for line in [
        format!("Stream ended: 100 frames ({plan})"),
        format!("Playing demo: 100 frames at 25.0 fps ({plan})"),
    ] {
        assert!(readme.contains(&line), "README.md should show: {line}");
    }
}
