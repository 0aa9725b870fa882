//! The ICD-10-CM tabular XML (the official `icd10cm_tabular_*.xml`, plain or `.xz`) read into
//! code records: every billable code with seventh characters expanded, its classification
//! path and the instructional notes that apply. The same rules as `scripts/build_corpus.py`,
//! which builds the shipped corpus; a test holds the two to the same output.

use std::path::Path;

use roxmltree::Node;

use super::loaders::LoadError;
use crate::codes::{CodeRecord, CodeSystem};

/// Note kinds kept on a record, with the label coders know them by.
const NOTE_KINDS: [(&str, &str); 8] = [
    ("inclusionTerm", "Includes"),
    ("includes", "Includes"),
    ("excludes1", "Excludes1"),
    ("excludes2", "Excludes2"),
    ("codeFirst", "Code first"),
    ("useAdditionalCode", "Use additional code"),
    ("codeAlso", "Code also"),
    ("notes", "Note"),
];

fn squash(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn children<'a, 'i>(node: Node<'a, 'i>, tag: &'a str) -> impl Iterator<Item = Node<'a, 'i>> + 'a {
    node.children().filter(move |c| c.has_tag_name(tag))
}

fn child_text(node: Node, tag: &str) -> String {
    children(node, tag).next().and_then(|c| c.text()).map(squash).unwrap_or_default()
}

fn notes_of(node: Node) -> Vec<String> {
    let mut out = vec![];
    for (tag, label) in NOTE_KINDS {
        for block in children(node, tag) {
            for note in children(block, "note") {
                let text = note.text().map(squash).unwrap_or_default();
                if !text.is_empty() {
                    out.push(format!("{label}: {text}"));
                }
            }
        }
    }
    out
}

fn inclusion_terms(node: Node) -> Vec<String> {
    children(node, "inclusionTerm")
        .flat_map(|b| children(b, "note"))
        .filter_map(|n| n.text().map(squash))
        .filter(|t| !t.is_empty())
        .collect()
}

/// Other names of a code from the inclusion terms of the subcategories above it (`above`: each
/// one's description and terms): a term names what its subcategory's description names, so a
/// code whose description is that description plus a qualifier is the term plus the same
/// qualifier ("Pressure ulcer of tailbone, stage 3" for L89.153). A code worded otherwise gets
/// none.
fn inherited_names(desc: &str, above: &[(String, Vec<String>)]) -> Vec<String> {
    let mut names: Vec<String> = vec![];
    for (parent, terms) in above {
        let Some(rest) = desc.strip_prefix(parent.as_str()).filter(|r| r.starts_with([',', ' '])) else { continue };
        for term in terms {
            let name = format!("{term}{rest}");
            if !names.contains(&name) {
                names.push(name);
            }
        }
    }
    names
}

fn seventh_characters(node: Node) -> Option<Vec<(String, String)>> {
    let def = children(node, "sevenChrDef").next()?;
    Some(
        children(def, "extension")
            .map(|e| (e.attribute("char").unwrap_or_default().to_string(), e.text().map(squash).unwrap_or_default()))
            .collect(),
    )
}

/// The tabular list states this exception in prose under category S06: the seventh
/// characters D and S do not apply when the sixth character is 7 or 8.
fn seventh_applies(padded: &str, c: &str) -> bool {
    !(padded.starts_with("S06") && matches!(padded.as_bytes()[5], b'7' | b'8') && matches!(c, "D" | "S"))
}

struct Walk<'s> {
    source: &'s str,
    out: Vec<CodeRecord>,
}

impl Walk<'_> {
    fn record(&mut self, code: String, title: String, path: Vec<String>, notes: Vec<String>, synonyms: Vec<String>) {
        let mut record = CodeRecord::new(CodeSystem::Icd10Cm, code, title, self.source);
        (record.path, record.notes, record.synonyms) = (path, notes, synonyms);
        self.out.push(record);
    }

    fn diag(&mut self, diag: Node, path: &[String], inherited: &[String], seven: Option<&[(String, String)]>, above: &[(String, Vec<String>)]) {
        let code = child_text(diag, "name");
        let desc = child_text(diag, "desc");
        let own = notes_of(diag);
        let own_seven = seventh_characters(diag);
        let seven = own_seven.as_deref().or(seven);
        let mut level = path.to_vec();
        level.push(format!("{code} {desc}"));
        let kids: Vec<Node> = children(diag, "diag").collect();
        if !kids.is_empty() {
            let mut carried = inherited.to_vec();
            carried.extend(own);
            let mut named = above.to_vec();
            let terms = inclusion_terms(diag);
            if !terms.is_empty() {
                named.push((desc.clone(), terms));
            }
            for k in kids {
                self.diag(k, &level, &carried, seven, &named);
            }
            return;
        }
        let mut notes = own;
        notes.extend(inherited.iter().cloned());
        let mut synonyms = inclusion_terms(diag);
        synonyms.extend(inherited_names(&desc, above));
        match seven {
            Some(chars) => {
                let bare: String = code.chars().filter(|c| *c != '.').collect();
                let padded = format!("{bare:X<6}");
                for (c, meaning) in chars {
                    if !seventh_applies(&padded, c) {
                        continue;
                    }
                    let full = format!("{padded}{c}");
                    let title = format!("{desc}, {meaning}");
                    self.record(crate::codes::icd_form(&full), title, level.clone(), notes.clone(), synonyms.clone());
                }
            }
            None => self.record(code, desc, path.to_vec(), notes, synonyms),
        }
    }
}

pub fn icd10cm_tabular(path: &Path, text: &str) -> Result<Vec<CodeRecord>, LoadError> {
    let options = roxmltree::ParsingOptions { allow_dtd: true, ..Default::default() };
    let doc = roxmltree::Document::parse_with_options(text, options).map_err(|e| {
        let pos = e.pos();
        LoadError::Line { file: path.to_path_buf(), line: pos.row as usize, message: e.to_string() }
    })?;
    let root = doc.root_element();
    if !root.has_tag_name("ICD10CM.tabular") {
        return Err(LoadError::File { file: path.into(), message: "not an ICD-10-CM tabular file (root element ICD10CM.tabular)".into() });
    }
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let source = format!("ICD-10-CM Tabular List ({name}), CDC/CMS");
    let mut walk = Walk { source: &source, out: vec![] };
    for chapter in children(root, "chapter") {
        let chap = format!("Chapter {}: {}", child_text(chapter, "name"), child_text(chapter, "desc"));
        for section in children(chapter, "section") {
            let block = format!("{} {}", section.attribute("id").unwrap_or_default(), child_text(section, "desc"));
            for diag in children(section, "diag") {
                walk.diag(diag, &[chap.clone(), block.clone()], &[], None, &[]);
            }
        }
    }
    if walk.out.is_empty() {
        return Err(LoadError::File { file: path.into(), message: "no codes found".into() });
    }
    Ok(walk.out)
}
