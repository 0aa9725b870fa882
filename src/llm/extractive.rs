//! The built-in extractive composer: a deterministic answer written only from the retrieved
//! records, streamed like an LLM's. It is what every user without an LLM key reads, so it
//! leads with the answer, states the facts a coder checks and cites each source as `[n]`.

use futures::StreamExt;

use super::{GenError, GenerationContext, Generator, Piece, PieceStream, Source};
use crate::codes::{CodeRecord, CodeSystem};

pub struct ExtractiveComposer;

/// Alternatives listed after the best match of a description search.
const ALTERNATIVES: usize = 3;
/// Instructional notes quoted for an ICD-10-CM code.
const NOTES: usize = 3;

pub const NOT_FOUND: &str = "I could not find anything in the codecite corpus that answers this. \
If you have a code, name it; otherwise describe the service, supply or diagnosis in other words.";

fn list(codes: &[String]) -> String {
    const SHOWN: usize = 12;
    match codes.len() {
        0 => String::new(),
        1 => codes[0].clone(),
        n if n > SHOWN => crate::codes::short_list(codes, SHOWN),
        _ => format!("{} and {}", codes[..codes.len() - 1].join(", "), codes[codes.len() - 1]),
    }
}

/// The facts a coder checks about one code, as sentences.
fn facts(record: &CodeRecord, addon_codes: &[String], replaces: &[String]) -> Vec<String> {
    let mut out = vec![];
    if let Some(d) = record.description.as_deref().filter(|d| *d != record.title) {
        out.push(d.trim_end_matches('.').to_string() + ".");
    }
    if record.addon {
        if record.primary_codes.is_empty() {
            out.push("It is an add-on code: report it only together with a primary procedure, never alone.".into());
        } else {
            out.push(format!(
                "It is an add-on code: report it only together with its primary code {}, never alone.",
                list(&record.primary_codes)
            ));
        }
    }
    if !addon_codes.is_empty() {
        out.push(format!("Add-on codes reported with it: {}.", list(addon_codes)));
    }
    if let Some(year) = record.deleted_year {
        if record.replaced_by.is_empty() {
            out.push(format!("It was deleted in {year} and is no longer valid for current dates of service."));
        } else {
            out.push(format!(
                "It was deleted in {year}; for current dates of service use {} instead.",
                list(&record.replaced_by)
            ));
        }
    }
    if !replaces.is_empty() {
        out.push(format!("It replaced the deleted code {}.", list(replaces)));
    }
    if let Some(global) = record.global {
        out.push(global.sentence().to_string());
    }
    out.extend(notes(&record.notes));
    out
}

/// The most actionable instructional notes, grouped by kind: sequencing first, then
/// exclusions. "Use additional code: code to identify control using:" and the items after it
/// read as one sentence.
fn notes(all: &[String]) -> Vec<String> {
    let mut out = vec![];
    for kind in ["Code first", "Use additional code", "Code also", "Excludes1"] {
        let items: Vec<&str> = all
            .iter()
            .filter_map(|n| n.strip_prefix(kind).and_then(|r| r.strip_prefix(": ")))
            .take(NOTES + 1)
            .collect();
        if items.is_empty() {
            continue;
        }
        let mut text = String::new();
        for (i, item) in items.iter().enumerate() {
            if i > 0 {
                text.push_str(if text.ends_with(':') { " " } else { "; " });
            }
            text.push_str(item.trim_end_matches('.'));
        }
        out.push(format!("{kind}: {}.", text.trim_end_matches(':')));
        if out.len() == 2 {
            break;
        }
    }
    out
}

fn describe(source: &Source) -> String {
    let hit = &source.hit;
    let code = hit.code.as_deref().unwrap_or_default();
    let Some(stored) = &source.record else {
        return format!("**{code}** ({}): {} [{}].", hit.system.label(), hit.title, source.n);
    };
    let record = &stored.record;
    let mut parts = vec![];
    if record.system == CodeSystem::Modifier {
        parts.push(format!("Modifier **{code}**: {} [{}].", record.title, source.n));
        parts.extend(facts(record, &stored.addon_codes, &stored.replaces));
    } else if record.system == CodeSystem::Hcpcs {
        // CMS short descriptors are abbreviated; lead with the spelled-out form.
        let name = record.description.as_deref().unwrap_or(&record.title);
        parts.push(format!("**{code}** (HCPCS Level II): {name} [{}].", source.n));
        if let Some(section) = record.path.first().and_then(|p| p.split_once(": ")) {
            parts.push(format!("Section: {}.", section.1));
        }
        let mut plain = record.clone();
        plain.description = None;
        parts.extend(facts(&plain, &stored.addon_codes, &stored.replaces));
    } else {
        parts.push(format!("**{code}** ({}): {} [{}].", record.system.label(), record.title, source.n));
        parts.extend(facts(record, &stored.addon_codes, &stored.replaces));
    }
    parts.join(" ")
}

/// The first two sentences of a guideline passage, without its title line.
fn passage(source: &Source) -> String {
    let body = source.hit.text.split_once('\n').map(|(_, b)| b).unwrap_or(&source.hit.text);
    let sentences: Vec<&str> = body.split_inclusive(". ").take(2).collect();
    format!("From our guideline note “{}”: {} [{}]", source.hit.title, sentences.concat().trim(), source.n)
}

/// Years a question asks about ("in 2022", "for 03/2019 dates of service").
pub(super) fn years_asked(question: &str) -> Vec<i32> {
    static YEAR: std::sync::LazyLock<regex::Regex> =
        std::sync::LazyLock::new(|| regex::Regex::new(r"\b(19[89]\d|20\d\d)\b").expect("valid regex"));
    let mut out: Vec<i32> = YEAR.find_iter(question).filter_map(|m| m.as_str().parse().ok()).collect();
    out.dedup();
    out
}

/// Whether a code could be reported for dates of service in `year`, from its validity dates.
pub(super) fn validity_for_year(code: &str, v: &crate::codes::Validity, year: i32) -> String {
    let from: i32 = v.valid_from[..4].parse().unwrap_or(0);
    let until: Option<i32> = v.last_valid.as_deref().and_then(|d| d[..4].parse().ok());
    // The CMS tables start in July 2019, which they record as the first day for older codes.
    let known_from = if v.valid_from == "2019-07-01" { "on or before 2019-07-01".to_string() } else { v.valid_from.clone() };
    match until {
        Some(last) if year > last => format!(
            "For dates of service in {year}: no. {code} stopped being valid on {}, so it cannot be reported for {year}.",
            v.last_valid.as_deref().unwrap_or_default()
        ),
        _ if year < from && v.valid_from != "2019-07-01" => {
            format!("For dates of service in {year}: no. {code} became valid on {}.", v.valid_from)
        }
        Some(_) => format!(
            "For dates of service in {year}: yes, {code} was valid then (valid from {known_from} through {}).",
            v.last_valid.as_deref().unwrap_or_default()
        ),
        None => format!("For dates of service in {year}: yes, {code} has been valid since {known_from} and still is."),
    }
}

pub fn compose(context: &GenerationContext) -> String {
    let useful: Vec<&Source> = context.sources.iter().filter(|s| s.covers).collect();
    let named: Vec<&Source> = context
        .named
        .iter()
        .filter_map(|c| context.sources.iter().find(|s| s.hit.code.as_deref() == Some(c.as_str())))
        .collect();
    let mut paragraphs: Vec<String> = context.ncci.iter().map(|f| f.sentence()).collect();
    paragraphs.extend(context.lookups());

    if !named.is_empty() {
        let years = years_asked(&context.question);
        for source in named.iter().take(4) {
            let mut text = describe(source);
            let validity = source.record.as_ref().and_then(|r| r.validity.as_ref());
            if let (Some(v), Some(code)) = (validity, source.hit.code.as_deref()) {
                for year in &years {
                    text.push(' ');
                    text.push_str(&validity_for_year(code, v, *year));
                }
            }
            paragraphs.push(text);
        }
    } else if context.unknown.is_empty() {
        let codes: Vec<&Source> = useful.iter().copied().filter(|s| s.hit.code.is_some()).collect();
        if let Some(best) = codes.first() {
            paragraphs.push(format!("The best match is {}", describe(best)));
            let others: Vec<String> = codes
                .iter()
                .skip(1)
                .take(ALTERNATIVES)
                .map(|s| {
                    format!(
                        "- **{}** ({}): {} [{}]",
                        s.hit.code.as_deref().unwrap_or_default(),
                        s.hit.system.label(),
                        s.hit.title,
                        s.n
                    )
                })
                .collect();
            if !others.is_empty() {
                paragraphs.push(format!("Other candidates:\n{}", others.join("\n")));
            }
        }
    }
    // A guideline passage: one about a code the question names, else the best covering one.
    // Among notes about a named code, one whose title names it (the note *on* modifier 25,
    // not one that mentions it) comes first.
    let mut about_named: Vec<&Source> = context
        .sources
        .iter()
        .filter(|s| s.hit.system == CodeSystem::Guideline && s.support > 0.0)
        .filter(|s| context.named.iter().any(|c| s.hit.codes.contains(c)))
        .collect();
    let titled = |s: &Source| context.named.iter().any(|c| s.hit.title.split(|ch: char| !ch.is_alphanumeric()).any(|w| w == c));
    about_named.sort_by_key(|s| !titled(s));
    let about_named = about_named.first().copied();
    if let Some(note) = about_named.or_else(|| useful.iter().copied().find(|s| s.hit.system == CodeSystem::Guideline)) {
        paragraphs.push(passage(note));
    }
    if paragraphs.is_empty() {
        paragraphs.push(NOT_FOUND.to_string());
    }
    paragraphs.join("\n\n")
}

/// Splits text into pieces of a few words, each keeping its trailing whitespace, so the
/// answer streams the way an LLM's does.
pub fn pieces(text: &str) -> Vec<String> {
    let mut out = vec![];
    let mut current = String::new();
    let mut words = 0;
    for (i, c) in text.char_indices() {
        current.push(c);
        let next_is_word = text[i + c.len_utf8()..].chars().next().is_some_and(|n| !n.is_whitespace());
        if c.is_whitespace() && next_is_word {
            words += 1;
            if words == 3 {
                out.push(std::mem::take(&mut current));
                words = 0;
            }
        }
    }
    if !current.is_empty() {
        out.push(current);
    }
    out
}

#[async_trait::async_trait]
impl Generator for ExtractiveComposer {
    fn name(&self) -> &'static str {
        "extractive"
    }

    async fn generate(&self, context: &GenerationContext) -> Result<PieceStream, GenError> {
        let text = compose(context);
        Ok(futures::stream::iter(pieces(&text).into_iter().map(|p| Ok(Piece::Text(p)))).boxed())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pieces_rejoin_to_the_text() {
        let text = "**J1885** (HCPCS Level II): Ketorolac  tromethamine injection [1].\n\nNext line";
        let p = pieces(text);
        assert!(p.len() > 2);
        assert_eq!(p.concat(), text);
    }

    #[test]
    fn dates_of_service_are_checked_against_validity() {
        let v = crate::codes::Validity {
            system: CodeSystem::Cpt,
            valid_from: "2019-07-01".into(),
            last_valid: Some("2020-12-31".into()),
            addon_type: None,
        };
        assert_eq!(years_asked("could 99201 be billed in 2022?"), vec![2022]);
        assert!(validity_for_year("99201", &v, 2022).starts_with("For dates of service in 2022: no. 99201 stopped being valid on 2020-12-31"));
        assert!(validity_for_year("99201", &v, 2020).starts_with("For dates of service in 2020: yes"));
        let current = crate::codes::Validity { last_valid: None, valid_from: "2020-01-01".into(), ..v };
        assert!(validity_for_year("0591T", &current, 2019).contains("no. 0591T became valid on 2020-01-01"));
        assert!(validity_for_year("0591T", &current, 2024).contains("valid since 2020-01-01 and still is"));
    }

    #[test]
    fn lists_read_as_prose() {
        let codes: Vec<String> = ["a", "b", "c"].iter().map(|s| s.to_string()).collect();
        assert_eq!(list(&codes[..1]), "a");
        assert_eq!(list(&codes), "a, b and c");
    }
}
