//! OpenSSH public keys, checked before any work: a private key or a typo
//! given to `--ssh-key` must be refused up front, not discovered after a
//! ten-minute build when nobody can log in.

use base64::Engine;

use crate::ImageError;

/// Key types sshd accepts in authorized_keys.
const TYPES: &[&str] = &[
    "ssh-ed25519",
    "ssh-rsa",
    "ecdsa-sha2-nistp256",
    "ecdsa-sha2-nistp384",
    "ecdsa-sha2-nistp521",
    "sk-ssh-ed25519@openssh.com",
    "sk-ecdsa-sha2-nistp256@openssh.com",
];

/// Reads the first key of an OpenSSH public key file (`ssh-keygen`'s
/// `.pub`) and returns it as one authorized_keys line. `name` is for
/// messages.
pub fn parse_public_key(text: &str, name: &str) -> Result<String, ImageError> {
    let bad = |why: String| ImageError::Input(format!("{name}: {why}"));
    if text.contains("PRIVATE KEY-----") {
        return Err(bad(
            "this is a private key; give the public one (the .pub file next to it)".into(),
        ));
    }
    let (lineno, line) = text
        .lines()
        .enumerate()
        .map(|(i, l)| (i + 1, l.trim()))
        .find(|(_, l)| !l.is_empty() && !l.starts_with('#'))
        .ok_or_else(|| bad("holds no key".into()))?;
    let mut parts = line.split_whitespace();
    let ty = parts.next().unwrap_or("");
    let Some(blob) = parts.next() else {
        return Err(bad(format!(
            "line {lineno} is not an OpenSSH public key (expected `TYPE BASE64 [COMMENT]`)"
        )));
    };
    if !TYPES.contains(&ty) {
        return Err(bad(format!(
            "line {lineno}: key type {ty:?} is not one sshd accepts ({})",
            TYPES.join(", ")
        )));
    }
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(blob)
        .map_err(|e| bad(format!("line {lineno}: the key is not valid base64 ({e})")))?;
    // The blob starts with the type again, as a length-prefixed string.
    let inner = bytes
        .get(..4)
        .map(|l| u32::from_be_bytes([l[0], l[1], l[2], l[3]]) as usize)
        .and_then(|n| bytes.get(4..4usize.checked_add(n)?));
    if inner != Some(ty.as_bytes()) {
        return Err(bad(format!(
            "line {lineno}: the key data does not match its type {ty}"
        )));
    }
    let comment: Vec<&str> = parts.collect();
    Ok(if comment.is_empty() {
        format!("{ty} {blob}")
    } else {
        format!("{ty} {blob} {}", comment.join(" "))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const ED: &str = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFQ1ixkBC7U0QBh5VO6Z2F2SWMxNXbHm2qZSJIEUOzGb user@host";

    #[test]
    fn accepts_a_real_key_and_keeps_its_comment() {
        assert_eq!(parse_public_key(ED, "k.pub").unwrap(), ED);
        let with_blank = format!("\n# mine\n  {ED}  \n");
        assert_eq!(parse_public_key(&with_blank, "k.pub").unwrap(), ED);
    }

    #[test]
    fn refusals_say_why() {
        for (text, why) in [
            ("", "holds no key"),
            ("-----BEGIN OPENSSH PRIVATE KEY-----\nabc\n", "private key"),
            ("ssh-ed25519", "not an OpenSSH public key"),
            ("ssh-dss AAAAB3NzaC1kc3MAAACBAP", "not one sshd accepts"),
            ("ssh-ed25519 !!!notbase64", "not valid base64"),
            (
                // an RSA blob under the ed25519 type
                "ssh-ed25519 AAAAB3NzaC1yc2EAAAADAQABAAABAQ==",
                "does not match its type",
            ),
        ] {
            let e = parse_public_key(text, "k.pub").unwrap_err().to_string();
            assert!(e.starts_with("k.pub: ") && e.contains(why), "{text:?}: {e}");
        }
    }

    proptest::proptest! {
        #[test]
        fn never_panics(s in ".*") {
            let _ = parse_public_key(&s, "x");
        }
    }
}
