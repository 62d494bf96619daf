//! No code of the product uses RSA PKCS#1 v1.5 encryption (Bleichenbacher, Marvin): its crate
//! does not turn on the `rsa` crate's `pkcs1v15` feature. The ladder (ladder/) does, for the
//! steps that seal as the original did; built in one workspace, Cargo unifies features, so the
//! name could compile here too: this test keeps it out. No sockets: it reads the files.

#[test]
fn no_file_of_the_product_uses_pkcs1_v15() {
    fn walk(dir: &std::path::Path, found: &mut Vec<String>) {
        for entry in std::fs::read_dir(dir).unwrap().map(Result::unwrap) {
            let path = entry.path();
            if path.is_dir() {
                walk(&path, found);
            } else if path.extension().is_some_and(|e| e == "rs")
                && std::fs::read_to_string(&path).unwrap().contains("Pkcs1v15")
            {
                found.push(path.display().to_string());
            }
        }
    }
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut found = Vec::new();
    walk(&root.join("src"), &mut found);
    assert!(found.is_empty(), "PKCS#1 v1.5 in the product: {found:?}");
    // The walk looks for the name the ladder's step 0 uses.
    let mut ladder = Vec::new();
    walk(&root.join("ladder/step0"), &mut ladder);
    assert!(!ladder.is_empty(), "the walk finds Pkcs1v15 where it is");
    let manifest = std::fs::read_to_string(root.join("Cargo.toml")).unwrap();
    let rsa = manifest.lines().find(|l| l.starts_with("rsa ")).unwrap();
    assert!(!rsa.contains("pkcs1v15"), "the product's crate turns on pkcs1v15: {rsa}");
}
