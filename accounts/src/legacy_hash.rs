//! Password hashes made by other systems, as a bulk import brings them: argon2id and argon2i
//! (PHC), scrypt and PBKDF2-SHA256 (PHC, or passlib's `$pbkdf2-sha256$`), and bcrypt
//! (`$2a$`, `$2b$`, `$2y$`). Each is checked at import (its form and a bounded cost, so an
//! imported hash cannot make a sign-in arbitrarily slow) and verified at the account's next
//! sign-in, which then replaces it with this pool's argon2id.

use base64::Engine;
use subtle::ConstantTimeEq;

/// The kinds of hash an import may carry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scheme {
    Argon2,
    Bcrypt,
    Scrypt,
    Pbkdf2Sha256,
}

const BCRYPT_COST_MAX: u32 = 16;
const PBKDF2_ITERATIONS_MAX: u32 = 5_000_000;
const SCRYPT_LOG_N_MAX: u8 = 20;
const SCRYPT_R_MAX: u32 = 32;
const SCRYPT_P_MAX: u32 = 16;
/// argon2's memory bound, in KiB (256 MiB).
const ARGON2_MEMORY_MAX: u32 = 262_144;
const ARGON2_TIME_MAX: u32 = 64;
/// Derived keys and salts, in bytes, at most.
const OUTPUT_MAX: usize = 128;

/// A parsed scrypt or PBKDF2 hash.
struct Derived {
    salt: Vec<u8>,
    hash: Vec<u8>,
}

/// PHC's base64 (standard alphabet, no padding), passlib's adapted one (`.` for `+`), or
/// either padded.
fn b64(s: &str) -> Option<Vec<u8>> {
    let s = s.replace('.', "+");
    let s = s.trim_end_matches('=');
    base64::engine::general_purpose::STANDARD_NO_PAD
        .decode(s)
        .ok()
}

/// `k=v,k=v` parameters.
fn param<'a>(params: &'a str, key: &str) -> Option<&'a str> {
    params
        .split(',')
        .find_map(|kv| kv.strip_prefix(key)?.strip_prefix('='))
}

fn split(phc: &str) -> Vec<&str> {
    phc.split('$').collect()
}

/// What kind of hash `phc` is, with its form and cost checked; why not otherwise.
pub fn check(phc: &str) -> Result<Scheme, String> {
    if phc.len() > 512 || phc.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("the hash is not one line of at most 512 characters".into());
    }
    if phc.starts_with("$2a$") || phc.starts_with("$2b$") || phc.starts_with("$2y$") {
        let parts = split(phc);
        let cost: u32 = parts
            .get(2)
            .and_then(|c| c.parse().ok())
            .ok_or("a bcrypt hash is $2b$<cost>$<53 characters>")?;
        if parts.len() != 4 || parts[3].len() != 53 || !(4..=BCRYPT_COST_MAX).contains(&cost) {
            return Err(format!(
                "a bcrypt hash is $2b$<cost 4 to {BCRYPT_COST_MAX}>$<53 characters>"
            ));
        }
        return Ok(Scheme::Bcrypt);
    }
    if phc.starts_with("$argon2id$") || phc.starts_with("$argon2i$") {
        let parsed = argon2::password_hash::PasswordHash::new(phc)
            .map_err(|e| format!("not an argon2 PHC string: {e}"))?;
        let params =
            argon2::Params::try_from(&parsed).map_err(|e| format!("argon2 parameters: {e}"))?;
        if params.m_cost() > ARGON2_MEMORY_MAX || params.t_cost() > ARGON2_TIME_MAX {
            return Err(format!(
                "argon2 costs at most m={ARGON2_MEMORY_MAX}, t={ARGON2_TIME_MAX}"
            ));
        }
        if parsed.hash.is_none() || parsed.salt.is_none() {
            return Err("an argon2 hash has a salt and a hash".into());
        }
        return Ok(Scheme::Argon2);
    }
    if phc.starts_with("$scrypt$") {
        scrypt_parts(phc)?;
        return Ok(Scheme::Scrypt);
    }
    if phc.starts_with("$pbkdf2-sha256$") {
        pbkdf2_parts(phc)?;
        return Ok(Scheme::Pbkdf2Sha256);
    }
    Err("not a hash this import reads: argon2id or argon2i (PHC), scrypt or pbkdf2-sha256 (PHC), or bcrypt ($2a$, $2b$, $2y$)".into())
}

fn derived(salt: &str, hash: &str) -> Result<Derived, String> {
    let salt = b64(salt).ok_or("the salt is not base64")?;
    let hash = b64(hash).ok_or("the hash is not base64")?;
    if salt.is_empty() || salt.len() > OUTPUT_MAX || hash.len() < 16 || hash.len() > OUTPUT_MAX {
        return Err("the salt or the hash has an impossible length".into());
    }
    Ok(Derived { salt, hash })
}

/// `$scrypt$ln=<log2 N>,r=<r>,p=<p>$<salt>$<hash>`.
fn scrypt_parts(phc: &str) -> Result<(scrypt::Params, Derived), String> {
    let parts = split(phc);
    let [_, _, params, salt, hash] = parts.as_slice() else {
        return Err("a scrypt hash is $scrypt$ln=..,r=..,p=..$<salt>$<hash>".into());
    };
    let num = |k: &str| param(params, k).and_then(|v| v.parse::<u32>().ok());
    let (Some(ln), Some(r), Some(p)) = (num("ln"), num("r"), num("p")) else {
        return Err("scrypt parameters are ln, r and p".into());
    };
    if ln == 0
        || ln > u32::from(SCRYPT_LOG_N_MAX)
        || r == 0
        || r > SCRYPT_R_MAX
        || p == 0
        || p > SCRYPT_P_MAX
    {
        return Err(format!(
            "scrypt costs at most ln={SCRYPT_LOG_N_MAX}, r={SCRYPT_R_MAX}, p={SCRYPT_P_MAX}"
        ));
    }
    let d = derived(salt, hash)?;
    let params = scrypt::Params::new(ln as u8, r, p, d.hash.len())
        .map_err(|_| "scrypt parameters out of range".to_string())?;
    Ok((params, d))
}

/// `$pbkdf2-sha256$i=<iterations>[,l=<length>]$<salt>$<hash>` (PHC), or passlib's
/// `$pbkdf2-sha256$<iterations>$<salt>$<hash>`.
fn pbkdf2_parts(phc: &str) -> Result<(u32, Derived), String> {
    let parts = split(phc);
    let [_, _, params, salt, hash] = parts.as_slice() else {
        return Err("a PBKDF2 hash is $pbkdf2-sha256$i=..$<salt>$<hash>".into());
    };
    let iterations = match params.parse::<u32>() {
        Ok(n) => Some(n),
        Err(_) => param(params, "i").and_then(|v| v.parse().ok()),
    };
    let Some(iterations) = iterations.filter(|n| (1..=PBKDF2_ITERATIONS_MAX).contains(n)) else {
        return Err(format!(
            "PBKDF2 iterations are 1 to {PBKDF2_ITERATIONS_MAX}"
        ));
    };
    let d = derived(salt, hash)?;
    if let Some(l) = param(params, "l").and_then(|v| v.parse::<usize>().ok())
        && l != d.hash.len()
    {
        return Err("the PBKDF2 length does not match the hash".into());
    }
    Ok((iterations, d))
}

/// Verifies `password` against a hash [`check`] accepted (argon2 is the caller's).
pub fn verify(scheme: Scheme, password: &str, phc: &str) -> bool {
    match scheme {
        Scheme::Argon2 => false,
        Scheme::Bcrypt => bcrypt::verify(password, phc).unwrap_or(false),
        Scheme::Scrypt => {
            let Ok((params, d)) = scrypt_parts(phc) else {
                return false;
            };
            let mut out = vec![0u8; d.hash.len()];
            scrypt::scrypt(password.as_bytes(), &d.salt, &params, &mut out).is_ok()
                && bool::from(out.ct_eq(&d.hash))
        }
        Scheme::Pbkdf2Sha256 => {
            let Ok((iterations, d)) = pbkdf2_parts(phc) else {
                return false;
            };
            let Some(iterations) = std::num::NonZeroU32::new(iterations) else {
                return false;
            };
            aws_lc_rs::pbkdf2::verify(
                aws_lc_rs::pbkdf2::PBKDF2_HMAC_SHA256,
                iterations,
                &d.salt,
                password.as_bytes(),
                &d.hash,
            )
            .is_ok()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_verifies_and_bad_forms_are_refused() {
        // bcrypt: made here with the crate (the e2e test uses Python's bcrypt).
        let b = bcrypt::hash_with_salt("hunter22", 4, [7u8; 16])
            .unwrap()
            .format_for_version(bcrypt::Version::TwoB);
        assert_eq!(check(&b), Ok(Scheme::Bcrypt));
        assert!(verify(Scheme::Bcrypt, "hunter22", &b));
        assert!(!verify(Scheme::Bcrypt, "hunter23", &b));
        let y = b.replacen("$2b$", "$2y$", 1);
        assert!(verify(check(&y).unwrap(), "hunter22", &y));

        // PBKDF2-SHA256 and scrypt, from their RFCs' test vectors (RFC 7914 §11, §12).
        let salt = b64_encode(b"NaCl");
        let mut key = [0u8; 64];
        scrypt::scrypt(
            b"password",
            b"NaCl",
            &scrypt::Params::new(10, 8, 16, 64).unwrap(),
            &mut key,
        )
        .unwrap();
        assert_eq!(&key[..8], &[0xfd, 0xba, 0xbe, 0x1c, 0x9d, 0x34, 0x72, 0x00]);
        let s = format!("$scrypt$ln=10,r=8,p=16${salt}${}", b64_encode(&key));
        assert_eq!(check(&s), Ok(Scheme::Scrypt));
        assert!(verify(Scheme::Scrypt, "password", &s));
        assert!(!verify(Scheme::Scrypt, "passwore", &s));

        let mut dk = [0u8; 32];
        aws_lc_rs::pbkdf2::derive(
            aws_lc_rs::pbkdf2::PBKDF2_HMAC_SHA256,
            std::num::NonZeroU32::new(1000).unwrap(),
            b"saltsalt",
            b"pw",
            &mut dk,
        );
        let p = format!(
            "$pbkdf2-sha256$i=1000,l=32${}${}",
            b64_encode(b"saltsalt"),
            b64_encode(&dk)
        );
        assert_eq!(check(&p), Ok(Scheme::Pbkdf2Sha256));
        assert!(verify(Scheme::Pbkdf2Sha256, "pw", &p));
        let passlib = format!(
            "$pbkdf2-sha256$1000${}${}",
            b64_encode(b"saltsalt"),
            b64_encode(&dk)
        )
        .replace('+', ".");
        assert!(verify(check(&passlib).unwrap(), "pw", &passlib));
        assert!(!verify(Scheme::Pbkdf2Sha256, "px", &p));

        for bad in [
            "plain",
            "$2b$31$abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyza",
            "$2b$04$short",
            "$scrypt$ln=30,r=8,p=1$c2FsdA$aGFzaGhhc2hoYXNoaGFzaA",
            "$pbkdf2-sha256$i=0$c2FsdA$aGFzaGhhc2hoYXNoaGFzaA",
            "$pbkdf2-sha256$i=1000,l=16$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g",
            "$md5$x",
            "$argon2id$v=19$m=1048576,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
        ] {
            assert!(check(bad).is_err(), "{bad}");
        }
    }

    fn b64_encode(b: &[u8]) -> String {
        base64::engine::general_purpose::STANDARD_NO_PAD.encode(b)
    }
}
