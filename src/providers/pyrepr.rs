//! Reads the Python-literal subset that SkyPilot writes into `GpuInfo` cells
//! (`{'Gpus': [{'Name': 'A100', 'Count': 8.0}], 'TotalGpuMemoryInMiB': 327680}`) by
//! rewriting it as JSON: single-quoted strings become double-quoted, `None`/`True`/`False`
//! become `null`/`true`/`false`. JSON input passes through unchanged.

/// Converts a Python literal (or JSON) to a JSON value; `None` when it is neither.
pub fn to_json(text: &str) -> Option<serde_json::Value> {
    let trimmed = text.trim();
    if let Ok(value) = serde_json::from_str(trimmed) {
        return Some(value);
    }
    serde_json::from_str(&rewrite(trimmed)?).ok()
}

fn rewrite(text: &str) -> Option<String> {
    let mut out = String::with_capacity(text.len() + 8);
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\'' | '"' => {
                out.push('"');
                loop {
                    let next = chars.next()?;
                    match next {
                        '\\' => {
                            let escaped = chars.next()?;
                            match escaped {
                                '\'' => out.push('\''),
                                '"' => out.push_str("\\\""),
                                other => {
                                    out.push('\\');
                                    out.push(other);
                                }
                            }
                        }
                        q if q == c => break,
                        '"' => out.push_str("\\\""),
                        other => out.push(other),
                    }
                }
                out.push('"');
            }
            c if c.is_ascii_alphabetic() => {
                let mut word = String::from(c);
                while let Some(&n) = chars.peek() {
                    if !n.is_ascii_alphanumeric() && n != '_' {
                        break;
                    }
                    word.push(n);
                    chars.next();
                }
                out.push_str(match word.as_str() {
                    "None" => "null",
                    "True" => "true",
                    "False" => "false",
                    other => other,
                });
            }
            other => out.push(other),
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn python_dict_repr_becomes_json() {
        let v = to_json("{'Gpus': [{'Name': 'H100', 'Count': 8.0, 'MemoryInfo': {'SizeInMiB': 81920}}], 'Ok': True, 'X': None}");
        assert_eq!(
            v,
            Some(
                json!({"Gpus": [{"Name": "H100", "Count": 8.0, "MemoryInfo": {"SizeInMiB": 81920}}], "Ok": true, "X": null})
            )
        );
    }

    #[test]
    fn quotes_inside_strings_and_json_input_survive() {
        assert_eq!(
            to_json(r#"{'Name': 'say "hi"', 'B': 'it\'s'}"#),
            Some(json!({"Name": "say \"hi\"", "B": "it's"}))
        );
        assert_eq!(
            to_json(r#"{"Gpus": [{"Name": "L4"}]}"#),
            Some(json!({"Gpus": [{"Name": "L4"}]}))
        );
        assert_eq!(to_json("null"), Some(serde_json::Value::Null));
    }

    #[test]
    fn non_literals_are_rejected() {
        assert_eq!(to_json("{'unterminated"), None);
        assert_eq!(to_json("A100-80GB"), None);
    }
}
