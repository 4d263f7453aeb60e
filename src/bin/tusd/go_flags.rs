//! tusd's command lines as Go's `flag` package reads them: `-flag` as well
//! as `--flag`, bools that take `=false`, and Go durations.

use std::ffi::OsString;
use std::time::Duration;

/// Turns Go's single-dash long flags (`-upload-dir=./data`, `-port 1080`)
/// into the double-dash form, for every name in `long_names`. Short flags,
/// values and everything after `--` pass unchanged.
pub fn normalize(args: impl IntoIterator<Item = OsString>, long_names: &[String]) -> Vec<OsString> {
    let mut out = Vec::new();
    let mut flags_ended = false;
    for arg in args {
        if flags_ended {
            out.push(arg);
            continue;
        }
        let Some(text) = arg.to_str() else {
            out.push(arg);
            continue;
        };
        if text == "--" {
            flags_ended = true;
            out.push(arg);
            continue;
        }
        let name = text
            .strip_prefix('-')
            .filter(|rest| !rest.starts_with('-'))
            .map(|rest| rest.split_once('=').map_or(rest, |(name, _)| name));
        match name {
            Some(name) if long_names.iter().any(|n| n == name) => {
                out.push(OsString::from(format!("-{text}")));
            }
            _ => out.push(arg),
        }
    }
    out
}

/// A duration as Go's `time.ParseDuration` reads it (`60s`, `1m30s`,
/// `500ms`, `1.5h`), or a bare number of seconds (`60`, `0.5`).
pub fn duration(text: &str) -> Result<Duration, String> {
    let invalid = || {
        format!(
            "invalid duration {text:?}: use a number of seconds or a Go duration such as 90s, 1m30s, 500ms"
        )
    };
    let text = text.trim();
    if let Ok(seconds) = text.parse::<f64>() {
        return Duration::try_from_secs_f64(seconds).map_err(|_| invalid());
    }
    let mut rest = text.strip_prefix('+').unwrap_or(text);
    if rest.is_empty() {
        return Err(invalid());
    }
    let mut total = Duration::ZERO;
    while !rest.is_empty() {
        let number_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(invalid)?;
        let (number, after) = rest.split_at(number_len);
        if number.is_empty() || number == "." {
            return Err(invalid());
        }
        let value: f64 = if let Some(whole) = number.strip_suffix('.') {
            whole.parse()
        } else if number.starts_with('.') {
            format!("0{number}").parse()
        } else {
            number.parse()
        }
        .map_err(|_| invalid())?;
        let unit_len = after
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(after.len());
        let (unit, after) = after.split_at(unit_len);
        let nanos_per_unit = match unit {
            "ns" => 1.0,
            "us" | "\u{b5}s" | "\u{3bc}s" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            _ => return Err(invalid()),
        };
        let part =
            Duration::try_from_secs_f64(value * nanos_per_unit / 1e9).map_err(|_| invalid())?;
        total = total.checked_add(part).ok_or_else(invalid)?;
        rest = after;
    }
    Ok(total)
}

/// A bool as Go's `strconv.ParseBool` reads it.
pub fn boolean(text: &str) -> Result<bool, String> {
    match text {
        "1" | "t" | "T" | "true" | "TRUE" | "True" => Ok(true),
        "0" | "f" | "F" | "false" | "FALSE" | "False" => Ok(false),
        _ => Err(format!("invalid boolean {text:?}: use true or false")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_durations_and_bare_seconds() {
        let ms = Duration::from_millis;
        for (text, want) in [
            ("60s", ms(60_000)),
            ("1m30s", ms(90_000)),
            ("500ms", ms(500)),
            ("1.5h", ms(5_400_000)),
            ("2h45m", ms(9_900_000)),
            (".5s", ms(500)),
            ("1.s", ms(1000)),
            ("300us", Duration::from_micros(300)),
            ("300\u{b5}s", Duration::from_micros(300)),
            ("10ns", Duration::from_nanos(10)),
            ("+5s", ms(5000)),
            ("0", Duration::ZERO),
            ("60", ms(60_000)),
            ("0.25", ms(250)),
        ] {
            assert_eq!(duration(text), Ok(want), "{text}");
        }
        for bad in ["", "s", ".s", "5x", "5d", "-5s", "-1", "1 m", "5s5", "ms"] {
            assert!(duration(bad).is_err(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn go_bools() {
        for t in ["1", "t", "T", "true", "TRUE", "True"] {
            assert_eq!(boolean(t), Ok(true));
        }
        for f in ["0", "f", "F", "false", "FALSE", "False"] {
            assert_eq!(boolean(f), Ok(false));
        }
        assert!(boolean("yes").is_err());
    }

    #[test]
    fn single_dash_long_flags_become_double_dash() {
        let names = [
            "upload-dir".to_owned(),
            "port".to_owned(),
            "behind-proxy".to_owned(),
        ];
        let args = [
            "tusd",
            "-upload-dir=./data",
            "-port",
            "1080",
            "--behind-proxy",
            "-h",
            "-unknown",
            "--",
            "-port",
        ]
        .map(OsString::from);
        let got = normalize(args, &names);
        let want = [
            "tusd",
            "--upload-dir=./data",
            "--port",
            "1080",
            "--behind-proxy",
            "-h",
            "-unknown",
            "--",
            "-port",
        ]
        .map(OsString::from);
        assert_eq!(got, want);
    }
}
