//! Generated container names, `adjective_surname` as Docker makes them
//! (`recursing_bell`), and the rules for names users give.

/// Adjectives (the first half of a generated name).
const LEFT: [&str; 40] = [
    "admiring",
    "affectionate",
    "agitated",
    "amazing",
    "angry",
    "awesome",
    "blissful",
    "bold",
    "brave",
    "busy",
    "charming",
    "clever",
    "compassionate",
    "competent",
    "confident",
    "cool",
    "dazzling",
    "determined",
    "eager",
    "ecstatic",
    "elastic",
    "elegant",
    "epic",
    "festive",
    "focused",
    "friendly",
    "gallant",
    "gifted",
    "happy",
    "hopeful",
    "jolly",
    "keen",
    "kind",
    "laughing",
    "lucid",
    "modest",
    "nifty",
    "quirky",
    "recursing",
    "serene",
];

/// Surnames of scientists and engineers (the second half).
const RIGHT: [&str; 40] = [
    "agnesi",
    "archimedes",
    "babbage",
    "bell",
    "bohr",
    "boole",
    "cannon",
    "curie",
    "darwin",
    "dijkstra",
    "einstein",
    "euclid",
    "euler",
    "faraday",
    "fermat",
    "feynman",
    "galileo",
    "gauss",
    "goldberg",
    "hamilton",
    "hopper",
    "hypatia",
    "johnson",
    "kepler",
    "knuth",
    "lamarr",
    "lovelace",
    "maxwell",
    "meitner",
    "newton",
    "noether",
    "pascal",
    "ritchie",
    "shannon",
    "thompson",
    "torvalds",
    "turing",
    "volhard",
    "wozniak",
    "yalow",
];

/// A fresh generated name: random halves, not yet taken (per `taken`).
pub fn generate(taken: impl Fn(&str) -> bool) -> String {
    for attempt in 0..100 {
        let r = crate::ids::random_u64();
        let left = LEFT[(r % LEFT.len() as u64) as usize];
        let right = RIGHT[((r >> 32) % RIGHT.len() as u64) as usize];
        let mut name = format!("{left}_{right}");
        if attempt > 10 {
            name.push_str(&format!("{}", r % 10));
        }
        if !taken(&name) {
            return name;
        }
    }
    crate::ids::random_hex(12)
}

/// Docker's rule for user-given names: `[a-zA-Z0-9][a-zA-Z0-9_.-]+`, an
/// optional leading `/`.
pub fn validate(name: &str) -> Result<&str, String> {
    let bare = name.strip_prefix('/').unwrap_or(name);
    let mut chars = bare.chars();
    let valid = bare.len() >= 2
        && chars.next().is_some_and(|c| c.is_ascii_alphanumeric())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
    if valid {
        Ok(bare)
    } else {
        Err(format!(
            "Invalid container name ({name}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        let n = generate(|_| false);
        assert!(n.contains('_'));
        assert_eq!(validate("/web").unwrap(), "web");
        assert!(validate("a").is_err());
        assert!(validate("-x").is_err());
        assert!(validate("a b").is_err());
        assert!(validate("ok.name-1_x").is_ok());
    }
}
