//! An answer written out whole, for readers that get no `citation` events: an OpenAI-style
//! client (plain text) and an email (plain text and HTML). The cited codes link to their
//! code pages; a code no table has is marked, never linked.

use std::fmt::Write;

use super::events::{CitationEvent, SourceEvent};

/// The absolute address of a code's page.
pub fn code_url(public_url: &str, code: &str) -> String {
    format!("{}/codes/{code}", public_url.trim_end_matches('/'))
}

/// What a reader should know about a cited code besides its name: why it may not be
/// reported as written (`None`: a verified, billable code).
pub fn caveat(c: &CitationEvent) -> Option<String> {
    if !c.verified {
        return Some("NOT VERIFIED: no code table has it; do not report it".into());
    }
    if c.billable {
        return None;
    }
    Some(match c.billable_codes.as_slice() {
        [] => "not billable today: no longer a valid code".into(),
        codes => format!("not billable: a category; report a code under it, such as {}", codes.join(", ")),
    })
}

/// The sources the answer points at: by a `[n]` marker in its text, or as the source of a
/// cited code.
pub fn cited_sources<'a>(text: &str, sources: &'a [SourceEvent], citations: &[CitationEvent]) -> Vec<&'a SourceEvent> {
    sources
        .iter()
        .filter(|s| text.contains(&format!("[{}]", s.n)) || citations.iter().any(|c| c.source_n == Some(s.n)))
        .collect()
}

/// The plain-text end of an answer: its sources by number, then each cited code with its
/// page (verified) or a warning (not verified, not billable). Empty when it cites nothing.
pub fn plain_footer(text: &str, sources: &[SourceEvent], citations: &[CitationEvent], public_url: &str) -> String {
    let mut out = String::new();
    let cited = cited_sources(text, sources, citations);
    if !cited.is_empty() {
        out.push_str("\n\nSources:\n");
        for s in cited {
            let _ = write!(out, "[{}] {}", s.n, s.title);
            if let Some(code) = &s.code {
                let _ = write!(out, " ({} {code}) {}", s.system.label(), code_url(public_url, code));
            }
            out.push('\n');
        }
    }
    if !citations.is_empty() {
        out.push_str(if out.is_empty() { "\n\nCodes cited:\n" } else { "\nCodes cited:\n" });
        for c in citations {
            match (c.verified, caveat(c)) {
                (true, None) => {
                    let _ = writeln!(out, "- {} ({}): {}", c.code, c.system.label(), code_url(public_url, &c.code));
                }
                (true, Some(why)) => {
                    let _ = writeln!(out, "- {} ({}): {}; {}", c.code, c.system.label(), why, code_url(public_url, &c.code));
                }
                (false, Some(why)) => {
                    let _ = writeln!(out, "- {}: {why}", c.code);
                }
                (false, None) => unreachable!("an unverified code always has a caveat"),
            }
        }
    }
    out
}

/// Escapes text for HTML content and attribute values.
pub fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for ch in text.chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The answer's text as HTML paragraphs: `**bold**` kept, each cited code a link to its page
/// (or, unverified, struck through and marked), everything else escaped.
pub fn html_answer(text: &str, citations: &[CitationEvent], public_url: &str) -> String {
    let mut out = String::new();
    for paragraph in text.split("\n\n").map(str::trim).filter(|p| !p.is_empty()) {
        out.push_str("<p>");
        for (i, line) in paragraph.lines().enumerate() {
            if i > 0 {
                out.push_str("<br>\n");
            }
            out.push_str(&html_line(line, citations, public_url));
        }
        out.push_str("</p>\n");
    }
    out
}

/// One line: words that are cited codes become links or marks; `**` toggles bold.
fn html_line(line: &str, citations: &[CitationEvent], public_url: &str) -> String {
    let mut out = String::new();
    let mut bold = false;
    for (i, part) in line.split("**").enumerate() {
        if i > 0 {
            out.push_str(if bold { "</strong>" } else { "<strong>" });
            bold = !bold;
        }
        let mut word = String::new();
        for ch in part.chars().chain(std::iter::once(' ')) {
            if ch.is_ascii_alphanumeric() || ch == '.' {
                word.push(ch);
                continue;
            }
            out.push_str(&html_word(&word, citations, public_url));
            word.clear();
            out.push_str(&escape_html(&ch.to_string()));
        }
        out.pop(); // the space chained on above
    }
    if bold {
        out.push_str("</strong>");
    }
    out
}

fn html_word(word: &str, citations: &[CitationEvent], public_url: &str) -> String {
    // A code at the end of a sentence carries its full stop.
    let (code, tail) = match word.strip_suffix('.') {
        Some(code) => (code, "."),
        None => (word, ""),
    };
    match citations.iter().find(|c| !code.is_empty() && c.code.eq_ignore_ascii_case(code)) {
        Some(c) if c.verified => format!("<a href=\"{}\">{}</a>{tail}", escape_html(&code_url(public_url, &c.code)), escape_html(code)),
        Some(_) => format!("<del title=\"not verified\">{}</del> <em>(not verified)</em>{tail}", escape_html(code)),
        None => escape_html(word),
    }
}

/// The HTML end of an answer: the sources and the cited codes, as [`plain_footer`] lists them.
pub fn html_footer(text: &str, sources: &[SourceEvent], citations: &[CitationEvent], public_url: &str) -> String {
    let mut out = String::new();
    let cited = cited_sources(text, sources, citations);
    if !cited.is_empty() {
        out.push_str("<h3>Sources</h3>\n<ol>\n");
        for s in cited {
            let title = escape_html(&s.title);
            match &s.code {
                Some(code) => {
                    let _ = writeln!(
                        out,
                        "<li value=\"{}\">{title} (<a href=\"{}\">{} {}</a>)</li>",
                        s.n,
                        escape_html(&code_url(public_url, code)),
                        s.system.label(),
                        escape_html(code)
                    );
                }
                None => {
                    let _ = writeln!(out, "<li value=\"{}\">{title}</li>", s.n);
                }
            }
        }
        out.push_str("</ol>\n");
    }
    if !citations.is_empty() {
        out.push_str("<h3>Codes cited</h3>\n<ul>\n");
        for c in citations {
            let code = escape_html(&c.code);
            let line = match (c.verified, caveat(c)) {
                (true, caveat) => {
                    let link = format!("<a href=\"{}\">{code}</a> ({})", escape_html(&code_url(public_url, &c.code)), c.system.label());
                    match caveat {
                        Some(why) => format!("{link}: {}", escape_html(&why)),
                        None => link,
                    }
                }
                (false, why) => format!("<del>{code}</del> <strong>{}</strong>", escape_html(&why.unwrap_or_default())),
            };
            let _ = writeln!(out, "<li>{line}</li>");
        }
        out.push_str("</ul>\n");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codes::CodeSystem;

    fn cite(code: &str, verified: bool, billable: bool, children: &[&str]) -> CitationEvent {
        CitationEvent {
            n: 1,
            system: CodeSystem::Hcpcs,
            code: code.into(),
            verified,
            billable,
            billable_codes: children.iter().map(|c| c.to_string()).collect(),
            source_n: None,
        }
    }

    #[test]
    fn verified_codes_link_and_unverified_ones_are_marked() {
        let cites = [cite("J1885", true, true, &[]), cite("J9999", false, false, &[]), cite("E11", true, false, &["E11.9"])];
        let html = html_answer("Use **J1885** [1], not J9999.\n\nSee E11 & <b>", &cites, "https://c.example/");
        assert!(html.contains("<strong><a href=\"https://c.example/codes/J1885\">J1885</a></strong>"), "{html}");
        assert!(html.contains("<del title=\"not verified\">J9999</del> <em>(not verified)</em>."), "{html}");
        assert!(html.contains("&amp; &lt;b&gt;</p>"), "{html}");
        let plain = plain_footer("x", &[], &cites, "https://c.example");
        assert!(plain.contains("- J1885 (HCPCS Level II): https://c.example/codes/J1885"), "{plain}");
        assert!(plain.contains("- J9999: NOT VERIFIED"), "{plain}");
        assert!(plain.contains("such as E11.9"), "{plain}");
        assert_eq!(plain_footer("no codes", &[], &[], "https://c.example"), "");
    }
}
