//! Reading an inbound message (RFC 5322, parsed by `mail-parser`): who sent it, what it
//! asks, which thread it continues, and whether a person wrote it at all. Auto-replies,
//! bounces and list mail are recognised here so that they are never answered (no loops, no
//! backscatter). Attachments are never read: only the message's text body counts.

use sha2::{Digest, Sha256};

/// At most this many thread ids are looked up (the newest of `References`).
const MAX_REFERENCES: usize = 20;

/// One inbound message, as much of it as an answer needs.
#[derive(Debug, Clone, PartialEq)]
pub struct Inbound {
    /// The message's own id (without angle brackets), or `sha256:` and the raw message's hash
    /// when it has none: the key that makes a repeated post a duplicate.
    pub key: String,
    /// Its `Message-ID`, when it has one.
    pub message_id: Option<String>,
    /// The `From` address, lower-cased.
    pub sender: Option<String>,
    pub subject: String,
    /// The question: the new text of the body (quoted replies and the signature dropped),
    /// else the subject.
    pub question: String,
    /// `In-Reply-To` and `References`, newest last, without angle brackets.
    pub references: Vec<String>,
    /// Why no person wrote it (an auto-reply, a bounce, a list), when so.
    pub automatic: Option<&'static str>,
    /// The `Authentication-Results` headers, as sent.
    pub authentication: Vec<String>,
}

/// Reads a raw message; `None` when it is not one.
pub fn parse(raw: &[u8]) -> Option<Inbound> {
    let message = mail_parser::MessageParser::default().parse(raw)?;
    if message.headers().is_empty() {
        return None;
    }
    let message_id = message.message_id().map(bare).filter(|id| !id.is_empty());
    let key = message_id.clone().unwrap_or_else(|| format!("sha256:{}", hex::encode(Sha256::digest(raw))));
    let sender = message.from().and_then(|a| a.first()).and_then(|a| a.address()).map(|a| a.trim().to_lowercase());
    let subject = message.subject().unwrap_or("").trim().to_string();
    let mut references: Vec<String> = vec![];
    for value in [message.references(), message.in_reply_to()] {
        let ids: Vec<String> = match value {
            mail_parser::HeaderValue::Text(t) => vec![t.to_string()],
            mail_parser::HeaderValue::TextList(list) => list.iter().map(|t| t.to_string()).collect(),
            _ => vec![],
        };
        for id in ids.iter().map(|i| bare(i)).filter(|i| !i.is_empty()) {
            if !references.contains(&id) {
                references.push(id);
            }
        }
    }
    let skip = references.len().saturating_sub(MAX_REFERENCES);
    references.drain(..skip);
    let raw_header = |name: &str| message.header_raw(name).map(|v| v.trim().to_string());
    let automatic = automatic(&raw_header, sender.as_deref());
    let authentication = message
        .headers()
        .iter()
        .filter(|h| h.name().eq_ignore_ascii_case("Authentication-Results"))
        .filter_map(|h| raw.get(h.offset_start() as usize..h.offset_end() as usize))
        .map(|v| String::from_utf8_lossy(v).split_whitespace().collect::<Vec<_>>().join(" "))
        .collect();
    let body = message.body_text(0).map(|b| new_text(&b)).unwrap_or_default();
    let question = if body.is_empty() { strip_reply_prefixes(&subject).to_string() } else { body };
    Some(Inbound { key, message_id, sender, subject, question, references, automatic, authentication })
}

/// An id without its angle brackets and spaces.
fn bare(id: &str) -> String {
    id.trim().trim_start_matches('<').trim_end_matches('>').trim().to_string()
}

/// Why a message was sent by a machine (RFC 3834 `Auto-Submitted`, the common auto-reply
/// headers, list headers, a null return path or a delivery report, an automated sender).
fn automatic(header: &dyn Fn(&str) -> Option<String>, sender: Option<&str>) -> Option<&'static str> {
    let lower = |name: &str| header(name).map(|v| v.to_ascii_lowercase());
    if lower("Auto-Submitted").is_some_and(|v| v.split(';').next().map(str::trim) != Some("no")) {
        return Some("auto-submitted");
    }
    if ["X-Autoreply", "X-Autorespond", "X-Autoresponder"].iter().any(|h| header(h).is_some()) {
        return Some("auto-reply");
    }
    if lower("X-Auto-Response-Suppress").is_some_and(|v| v.contains("all") || v.contains("oof") || v.contains("autoreply")) {
        return Some("auto-reply");
    }
    if lower("Precedence").is_some_and(|v| ["bulk", "junk", "list", "auto_reply"].contains(&v.as_str())) {
        return Some("bulk or list mail");
    }
    if ["List-Id", "List-Unsubscribe", "List-Post"].iter().any(|h| header(h).is_some()) {
        return Some("mailing list");
    }
    if header("Return-Path").is_some_and(|v| v.replace(' ', "") == "<>") {
        return Some("bounce (null return path)");
    }
    if lower("Content-Type").is_some_and(|v| v.starts_with("multipart/report")) {
        return Some("delivery or read report");
    }
    let local = sender.and_then(|s| s.split('@').next()).unwrap_or("");
    let robots = ["mailer-daemon", "postmaster", "noreply", "no-reply", "no_reply", "donotreply", "do-not-reply", "bounce", "bounces"];
    if robots.iter().any(|r| local == *r || local.starts_with(&format!("{r}+")) || local.starts_with(&format!("{r}-"))) {
        return Some("automated sender");
    }
    None
}

/// The new text of a reply: the lines before a quoted earlier message or a signature,
/// without `>` quotes, trimmed.
pub fn new_text(body: &str) -> String {
    let mut kept: Vec<&str> = vec![];
    for line in body.lines() {
        let t = line.trim();
        let quote_header = (t.starts_with("On ") && t.ends_with("wrote:"))
            || t == "-----Original Message-----"
            || (t.len() >= 10 && t.chars().all(|c| c == '_'));
        if quote_header || line == "-- " || t == "--" {
            break;
        }
        if t.starts_with('>') {
            continue;
        }
        kept.push(line.trim_end());
    }
    // Blank runs collapse to one blank line.
    let mut out = String::new();
    let mut blank = false;
    for line in kept {
        if line.is_empty() {
            blank = !out.is_empty();
            continue;
        }
        if blank {
            out.push('\n');
            blank = false;
        }
        if !out.is_empty() {
            out.push('\n');
        }
        out.push_str(line);
    }
    out
}

/// A subject without its `Re:` / `Fwd:` prefixes.
pub fn strip_reply_prefixes(subject: &str) -> &str {
    let mut s = subject.trim();
    loop {
        let lower = s.to_ascii_lowercase();
        match ["re:", "fwd:", "fw:", "aw:"].iter().find(|p| lower.starts_with(*p)) {
            Some(p) => s = s[p.len()..].trim_start(),
            None => return s,
        }
    }
}

/// Whether `Authentication-Results` from the trusted server `authserv_id` vouch for the
/// sender: `dmarc=pass`, or `dkim=pass` with the sender's domain (`header.d` or `header.i`).
pub fn authenticated(inbound: &Inbound, authserv_id: &str) -> bool {
    let Some(domain) = inbound.sender.as_deref().and_then(|s| s.rsplit_once('@')).map(|(_, d)| d.to_string()) else {
        return false;
    };
    inbound.authentication.iter().any(|results| {
        let mut parts = results.split(';').map(str::trim);
        let Some(server) = parts.next().and_then(|s| s.split_whitespace().next()) else { return false };
        if !server.eq_ignore_ascii_case(authserv_id) {
            return false;
        }
        parts.any(|method| {
            let m = method.to_ascii_lowercase();
            if m.starts_with("dmarc=pass") {
                return true;
            }
            m.starts_with("dkim=pass")
                && m.split_whitespace().any(|kv| {
                    let value = kv.strip_prefix("header.d=").or_else(|| kv.strip_prefix("header.i=")).unwrap_or("");
                    let value = value.trim_start_matches('@');
                    value == domain || value.ends_with(&format!("@{domain}"))
                })
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(headers: &str, body: &str) -> Vec<u8> {
        format!("From: Coder <Coder@Example.com>\r\nTo: answers@codecite.test\r\nSubject: Re: J1885?\r\n{headers}\r\n{body}").into_bytes()
    }

    #[test]
    fn a_reply_reads_its_new_text_and_its_thread() {
        let raw = message(
            "Message-ID: <q2@example.com>\r\nIn-Reply-To: <a1@codecite.test>\r\nReferences: <q1@example.com> <a1@codecite.test>\r\n",
            "And its units?\r\n\r\nThanks\r\n-- \r\nA coder\r\n\r\nOn Mon, 1 Jan 2026, codecite wrote:\r\n> J1885 is ketorolac\r\n",
        );
        let m = parse(&raw).unwrap();
        assert_eq!(m.key, "q2@example.com");
        assert_eq!(m.sender.as_deref(), Some("coder@example.com"));
        assert_eq!(m.question, "And its units?\n\nThanks");
        assert_eq!(m.references, ["q1@example.com", "a1@codecite.test"]);
        assert_eq!(m.automatic, None);
        let subject_only = parse(&message("", "> quoted only\r\n")).unwrap();
        assert_eq!(subject_only.question, "J1885?");
        assert!(subject_only.key.starts_with("sha256:"));
    }

    #[test]
    fn machines_are_recognised() {
        for (headers, why) in [
            ("Auto-Submitted: auto-replied\r\n", "auto-submitted"),
            ("X-Autoreply: yes\r\n", "auto-reply"),
            ("Precedence: bulk\r\n", "bulk or list mail"),
            ("List-Id: <coders.lists.example.com>\r\n", "mailing list"),
            ("Return-Path: <>\r\n", "bounce (null return path)"),
            ("Content-Type: multipart/report; report-type=delivery-status; boundary=x\r\n", "delivery or read report"),
        ] {
            assert_eq!(parse(&message(headers, "hello\r\n")).unwrap().automatic, Some(why), "{headers}");
        }
        assert_eq!(parse(&message("Auto-Submitted: no\r\n", "hi\r\n")).unwrap().automatic, None);
        let daemon = b"From: MAILER-DAEMON@example.com\r\nSubject: failure\r\n\r\nundeliverable\r\n";
        assert_eq!(parse(daemon).unwrap().automatic, Some("automated sender"));
    }

    #[test]
    fn authentication_results_vouch_only_from_the_trusted_server() {
        let pass = message("Authentication-Results: mx.provider.test;\r\n dkim=pass header.d=example.com; spf=pass\r\n", "q\r\n");
        let m = parse(&pass).unwrap();
        assert!(authenticated(&m, "mx.provider.test"));
        assert!(!authenticated(&m, "mx.other.test"));
        let forged = message("Authentication-Results: mx.provider.test; dkim=pass header.d=evil.test\r\n", "q\r\n");
        assert!(!authenticated(&parse(&forged).unwrap(), "mx.provider.test"));
        let dmarc = message("Authentication-Results: mx.provider.test; dmarc=pass header.from=example.com\r\n", "q\r\n");
        assert!(authenticated(&parse(&dmarc).unwrap(), "mx.provider.test"));
    }

    #[test]
    fn attachments_are_never_read() {
        let raw = "From: coder@example.com\r\nSubject: see attached\r\nMessage-ID: <att@example.com>\r\nMIME-Version: 1.0\r\n\
            Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nWhich code for this note?\r\n\
            --b\r\nContent-Type: text/plain\r\nContent-Disposition: attachment; filename=note.txt\r\n\r\nPatient John Doe, DOB 1950\r\n--b--\r\n";
        let m = parse(raw.as_bytes()).unwrap();
        assert_eq!(m.question, "Which code for this note?");
    }

    #[test]
    fn reply_prefixes_are_dropped() {
        assert_eq!(strip_reply_prefixes("Re: FWD: re: modifier 25"), "modifier 25");
    }
}
