//! `kite-server passwd FILE USER`: add, update or delete a user in a
//! password file, like `mosquitto_passwd`.

use std::{
    io::{BufRead, Write},
    path::Path,
};

use crate::{
    config::PasswdArgs,
    security::auth::{check_username, hash_password, update_lines},
};

/// Run `kite-server passwd`; the `Ok` text is what to tell the user.
pub fn passwd(args: &PasswdArgs) -> Result<String, String> {
    check_username(&args.user)?;
    let existing = match std::fs::read_to_string(&args.file) {
        Ok(text) => text,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(err) => return Err(format!("cannot read {}: {err}", args.file.display())),
    };
    let line = if args.delete {
        None
    } else {
        let password = read_password(args.password_stdin)?;
        if password.is_empty() {
            return Err("empty password".into());
        }
        Some(format!(
            "{}:{}",
            args.user,
            hash_password(password.as_bytes())?
        ))
    };
    let (text, found) = update_lines(&existing, &args.user, line.as_deref());
    if args.delete && !found {
        return Err(format!(
            "no user `{}` in {}",
            args.user,
            args.file.display()
        ));
    }
    write_private(&args.file, &text)?;
    Ok(match (args.delete, found) {
        (true, _) => format!("deleted user `{}` from {}", args.user, args.file.display()),
        (false, true) => format!("updated user `{}` in {}", args.user, args.file.display()),
        (false, false) => format!("added user `{}` to {}", args.user, args.file.display()),
    })
}

fn read_password(from_stdin: bool) -> Result<String, String> {
    if from_stdin {
        let mut line = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut line)
            .map_err(|err| format!("cannot read the password from standard input: {err}"))?;
        return Ok(line.trim_end_matches(['\n', '\r']).to_string());
    }
    let first = rpassword::prompt_password("Password: ").map_err(|err| {
        format!("cannot read the password from the terminal: {err} (use --password-stdin)")
    })?;
    let again = rpassword::prompt_password("Reenter password: ")
        .map_err(|err| format!("cannot read the password from the terminal: {err}"))?;
    if first != again {
        return Err("the passwords do not match".into());
    }
    Ok(first)
}

/// Replace `path` with `text` atomically, readable by its owner only.
fn write_private(path: &Path, text: &str) -> Result<(), String> {
    let tmp = path.with_extension("tmp");
    let write = || -> std::io::Result<()> {
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut file = options.open(&tmp)?;
        file.write_all(text.as_bytes())?;
        file.sync_all()?;
        std::fs::rename(&tmp, path)
    };
    write().map_err(|err| format!("cannot write {}: {err}", path.display()))
}
