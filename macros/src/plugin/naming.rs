//! Plugin names: the default (the type's name in snake_case) and what a valid name is.

use syn::LitStr;

/// `JsonExporter` → `json_exporter`, `HTTPServer` → `http_server`, `V2Parser` → `v2_parser`.
pub fn snake_case(ident: &str) -> String {
    let ident = ident.strip_prefix("r#").unwrap_or(ident);
    let chars: Vec<char> = ident.chars().collect();
    let mut out = String::with_capacity(ident.len() + 4);
    for (i, &c) in chars.iter().enumerate() {
        if c.is_uppercase() {
            let prev = i.checked_sub(1).map(|p| chars[p]);
            let next = chars.get(i + 1).copied();
            let boundary = match prev {
                None | Some('_') => false,
                Some(p) if p.is_lowercase() || p.is_ascii_digit() => true,
                Some(p) if p.is_uppercase() => next.is_some_and(char::is_lowercase),
                Some(_) => false,
            };
            if boundary {
                out.push('_');
            }
            out.extend(c.to_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

/// A name or alias must be non-empty and free of whitespace (it is typed in configs and on
/// command lines).
pub fn validate(lit: &LitStr, what: &str) -> syn::Result<String> {
    let value = lit.value();
    if value.is_empty() {
        return Err(syn::Error::new_spanned(
            lit,
            format!("a plugin {what} cannot be empty"),
        ));
    }
    if value.chars().any(char::is_whitespace) {
        return Err(syn::Error::new_spanned(
            lit,
            format!("a plugin {what} cannot contain whitespace, got {value:?}"),
        ));
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::snake_case;

    #[test]
    fn snake_case_splits_words_and_acronyms() {
        assert_eq!(snake_case("JsonExporter"), "json_exporter");
        assert_eq!(snake_case("CSVExporter"), "csv_exporter");
        assert_eq!(snake_case("HTTPServer"), "http_server");
        assert_eq!(snake_case("V2Parser"), "v2_parser");
        assert_eq!(snake_case("Csv"), "csv");
        assert_eq!(snake_case("already_snake"), "already_snake");
        assert_eq!(snake_case("r#Type"), "type");
        assert_eq!(snake_case("ABC"), "abc");
    }
}
