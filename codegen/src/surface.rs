//! The public surface of a generated client, as reviewable text: one entry per operation with
//! its HTTP method and path, parameters and their types, and success and error types.

use std::fmt::Write as _;

use quote::ToTokens;
use syn::{Expr, FnArg, ImplItem, Item, Lit, Meta, ReturnType};

/// Renders the surface of the generated `Client` in `code` (a whole generated module).
pub fn render(code: &syn::File) -> String {
    let mut out = String::new();
    for item in &code.items {
        let Item::Impl(block) = item else { continue };
        let is_client =
            block.trait_.is_none() && block.self_ty.to_token_stream().to_string() == "Client";
        if !is_client {
            continue;
        }
        for member in &block.items {
            let ImplItem::Fn(f) = member else { continue };
            if f.sig.asyncness.is_none() {
                continue; // constructors are not operations
            }
            let route = doc_lines(&f.attrs)
                .into_iter()
                .find_map(|line| route_of(&line))
                .unwrap_or_default();
            let _ = writeln!(out, "{route}");
            let _ = writeln!(out, "  {}", f.sig.ident);
            for input in &f.sig.inputs {
                if let FnArg::Typed(arg) = input {
                    let name = arg.pat.to_token_stream().to_string();
                    let _ = writeln!(out, "    {name}: {}", type_text(&arg.ty));
                }
            }
            let output = match &f.sig.output {
                ReturnType::Default => "()".to_string(),
                ReturnType::Type(_, ty) => type_text(ty),
            };
            let _ = writeln!(out, "    -> {output}");
            out.push('\n');
        }
    }
    out
}

fn doc_lines(attrs: &[syn::Attribute]) -> Vec<String> {
    attrs
        .iter()
        .filter_map(|a| match &a.meta {
            Meta::NameValue(nv) if nv.path.is_ident("doc") => match &nv.value {
                Expr::Lit(l) => match &l.lit {
                    Lit::Str(s) => Some(s.value()),
                    _ => None,
                },
                _ => None,
            },
            _ => None,
        })
        .collect()
}

/// progenitor documents each method with "Sends a `METHOD` request to `/path`".
fn route_of(line: &str) -> Option<String> {
    let mut ticks = line.split('`').skip(1).step_by(2);
    let method = ticks.next()?;
    let path = ticks.next()?;
    line.contains("request to")
        .then(|| format!("{method} {path}"))
}

/// Spells a type the way rustfmt would, via prettyplease.
fn type_text(ty: &syn::Type) -> String {
    let file: syn::File = syn::parse_quote! { type T = #ty; };
    let text = prettyplease::unparse(&file);
    let text = text.trim();
    let text = text.strip_prefix("type T = ").unwrap_or(text);
    let text = text.strip_suffix(';').unwrap_or(text);
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_route_parameters_and_types() {
        let code: syn::File = syn::parse_quote! {
            impl Client {
                pub fn new(baseurl: &str) -> Self { todo!() }
                #[doc = "Sends a `POST` request to `/api/hubs/{hub}/:send`"]
                pub async fn send<'a>(&'a self, hub: &'a str, excluded: Option<&'a ::std::vec::Vec<::std::string::String>>) -> Result<ResponseValue<()>, Error<()>> { todo!() }
            }
        };
        let text = render(&code);
        assert_eq!(
            text,
            "POST /api/hubs/{hub}/:send\n  send\n    hub: &'a str\n    excluded: Option<&'a ::std::vec::Vec<::std::string::String>>\n    -> Result<ResponseValue<()>, Error<()>>\n\n"
        );
    }
}
