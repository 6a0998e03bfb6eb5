//! Users and groups read from the container's own /etc/passwd and
//! /etc/group, as data. The host's NSS is never consulted: it would read the
//! host's files (or worse, load host libraries) for a container's user.

/// One /etc/passwd entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PasswdEntry {
    pub name: String,
    pub uid: u32,
    pub gid: u32,
    pub home: String,
    pub shell: String,
}

/// One /etc/group entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupEntry {
    pub name: String,
    pub gid: u32,
    pub members: Vec<String>,
}

/// Parses passwd text; malformed lines are skipped, as libc does.
pub fn parse_passwd(text: &str) -> Vec<PasswdEntry> {
    text.lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .filter_map(|line| {
            let f: Vec<&str> = line.split(':').collect();
            if f.len() < 7 {
                return None;
            }
            Some(PasswdEntry {
                name: f[0].to_string(),
                uid: f[2].parse().ok()?,
                gid: f[3].parse().ok()?,
                home: f[5].to_string(),
                shell: f[6].to_string(),
            })
        })
        .collect()
}

/// Parses group text; malformed lines are skipped.
pub fn parse_group(text: &str) -> Vec<GroupEntry> {
    text.lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .filter_map(|line| {
            let f: Vec<&str> = line.split(':').collect();
            if f.len() < 4 {
                return None;
            }
            Some(GroupEntry {
                name: f[0].to_string(),
                gid: f[2].parse().ok()?,
                members: f[3]
                    .split(',')
                    .filter(|m| !m.is_empty())
                    .map(str::to_string)
                    .collect(),
            })
        })
        .collect()
}

/// A user given as Docker accepts it (`name`, `uid`, `name:group`,
/// `uid:gid`), resolved against the container's files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedUser {
    pub uid: u32,
    pub gid: u32,
    pub home: String,
    /// Supplementary groups from /etc/group membership.
    pub additional_gids: Vec<u32>,
}

/// Why a user spec could not be resolved.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UserError {
    #[error("unable to find user {0}: no matching entries in passwd file")]
    UnknownUser(String),
    #[error("unable to find group {0}: no matching entries in group file")]
    UnknownGroup(String),
}

/// Resolves `user[:group]` the way Docker does: numeric ids need no entry,
/// names must exist. The primary group defaults to the passwd entry's.
pub fn resolve(
    spec: &str,
    passwd: &[PasswdEntry],
    groups: &[GroupEntry],
) -> Result<ResolvedUser, UserError> {
    let (user_part, group_part) = match spec.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (spec, None),
    };
    let entry = find_user(user_part, passwd)?;
    let uid = entry
        .as_ref()
        .map_or_else(|| user_part.parse().unwrap_or(0), |e| e.uid);
    let mut gid = entry.as_ref().map_or(0, |e| e.gid);
    if let Some(g) = group_part {
        gid = find_group(g, groups)?;
    }
    let name = entry.as_ref().map(|e| e.name.as_str());
    let additional_gids = name.map_or_else(Vec::new, |n| member_gids(n, groups));
    Ok(ResolvedUser {
        uid,
        gid,
        home: entry.map_or_else(|| "/".to_string(), |e| e.home),
        additional_gids,
    })
}

/// The home directory of `uid`, or "/" (what runc sets HOME to).
pub fn home_of(uid: u32, passwd: &[PasswdEntry]) -> String {
    passwd
        .iter()
        .find(|e| e.uid == uid)
        .map_or_else(|| "/".to_string(), |e| e.home.clone())
}

fn find_user(user: &str, passwd: &[PasswdEntry]) -> Result<Option<PasswdEntry>, UserError> {
    if let Ok(uid) = user.parse::<u32>() {
        return Ok(passwd.iter().find(|e| e.uid == uid).cloned());
    }
    passwd
        .iter()
        .find(|e| e.name == user)
        .cloned()
        .map(Some)
        .ok_or_else(|| UserError::UnknownUser(user.to_string()))
}

fn find_group(group: &str, groups: &[GroupEntry]) -> Result<u32, UserError> {
    if let Ok(gid) = group.parse::<u32>() {
        return Ok(gid);
    }
    groups
        .iter()
        .find(|g| g.name == group)
        .map(|g| g.gid)
        .ok_or_else(|| UserError::UnknownGroup(group.to_string()))
}

fn member_gids(user: &str, groups: &[GroupEntry]) -> Vec<u32> {
    groups
        .iter()
        .filter(|g| g.members.iter().any(|m| m == user))
        .map(|g| g.gid)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const PASSWD: &str = "root:x:0:0:root:/root:/bin/sh\n# comment\nbroken line\nberth:x:1000:1000::/home/berth:/bin/sh\n";
    const GROUP: &str = "root:x:0:\nwheel:x:10:berth,other\nberth:x:1000:\n";

    #[test]
    fn resolves_names_and_ids() {
        let (p, g) = (parse_passwd(PASSWD), parse_group(GROUP));
        assert_eq!(p.len(), 2);
        let u = resolve("berth", &p, &g).unwrap();
        assert_eq!((u.uid, u.gid, u.home.as_str()), (1000, 1000, "/home/berth"));
        assert_eq!(u.additional_gids, vec![10]);
        let u = resolve("1000:wheel", &p, &g).unwrap();
        assert_eq!((u.uid, u.gid), (1000, 10));
        let u = resolve("4242:4343", &p, &g).unwrap();
        assert_eq!((u.uid, u.gid, u.home.as_str()), (4242, 4343, "/"));
    }

    #[test]
    fn unknown_names_are_errors() {
        let (p, g) = (parse_passwd(PASSWD), parse_group(GROUP));
        assert_eq!(
            resolve("nobody", &p, &g),
            Err(UserError::UnknownUser("nobody".into()))
        );
        assert_eq!(
            resolve("root:nogroup", &p, &g),
            Err(UserError::UnknownGroup("nogroup".into()))
        );
    }

    #[test]
    fn home_defaults_to_root_dir() {
        let p = parse_passwd(PASSWD);
        assert_eq!(home_of(0, &p), "/root");
        assert_eq!(home_of(7, &p), "/");
    }
}
