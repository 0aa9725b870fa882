//! Replies leave through an SMTP relay (`lettre`): multipart plain text and HTML, threaded
//! with `In-Reply-To` and `References`, marked `Auto-Submitted: auto-replied` (RFC 3834) so
//! that other robots do not answer them. A send that fails for a transient reason is tried
//! again after a growing pause; a permanent rejection is not.

use std::time::Duration;

use lettre::message::header::{ContentType, HeaderName, HeaderValue};
use lettre::message::{Mailbox, MultiPart, SinglePart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use super::EmailError;
use crate::config::{EmailConfig, SmtpSecurity};

/// One reply, ready to build.
#[derive(Debug, Clone)]
pub struct Reply {
    pub to: String,
    pub subject: String,
    /// The message answered (without angle brackets) and the thread before it.
    pub in_reply_to: Option<String>,
    pub references: Vec<String>,
    /// Our reply's own id (without angle brackets): the same on every attempt.
    pub message_id: String,
    pub text: String,
    pub html: String,
}

/// The SMTP relay and our address.
pub struct Mailer {
    transport: Option<AsyncSmtpTransport<Tokio1Executor>>,
    from: Mailbox,
    attempts: u32,
    retry_delay: Duration,
}

impl Mailer {
    pub fn new(config: &EmailConfig) -> Result<Self, EmailError> {
        let from: Mailbox =
            config.from.parse().map_err(|e| EmailError::Config(format!("email.from {:?} is not an address: {e}", config.from)))?;
        let transport = match &config.smtp_host {
            None => None,
            Some(host) => {
                let builder = match config.smtp_security {
                    SmtpSecurity::None => AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host.as_str()),
                    SmtpSecurity::Starttls | SmtpSecurity::Tls => {
                        let tls = TlsParameters::new(host.clone()).map_err(|e| EmailError::Config(format!("SMTP TLS for {host}: {e}")))?;
                        let tls = match config.smtp_security {
                            SmtpSecurity::Tls => Tls::Wrapper(tls),
                            _ => Tls::Required(tls),
                        };
                        AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host.as_str()).tls(tls)
                    }
                };
                let mut builder = builder
                    .port(config.smtp_port)
                    .timeout(Some(Duration::from_secs_f64(config.smtp_timeout_secs.max(0.1))));
                if let (Some(user), Some(password)) = (&config.smtp_username, &config.smtp_password) {
                    builder = builder.credentials(Credentials::new(user.clone(), password.clone()));
                }
                Some(builder.build())
            }
        };
        Ok(Self {
            transport,
            from,
            attempts: config.send_attempts.max(1),
            retry_delay: Duration::from_secs_f64(config.retry_delay_secs.max(0.0)),
        })
    }

    /// Our address (lower-cased): mail from it is our own, never answered.
    pub fn address(&self) -> String {
        self.from.email.to_string().to_lowercase()
    }

    /// A new Message-ID (without angle brackets) in our domain.
    pub fn new_message_id(&self) -> String {
        format!("{}@{}", uuid::Uuid::new_v4().simple(), self.from.email.domain())
    }

    fn build(&self, reply: &Reply) -> Result<Message, EmailError> {
        let to: Mailbox = reply.to.parse().map_err(|e| EmailError::Send(format!("{:?} is not an address: {e}", reply.to)))?;
        let mut builder = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(reply.subject.clone())
            .message_id(Some(format!("<{}>", reply.message_id)))
            .raw_header(HeaderValue::new(HeaderName::new_from_ascii_str("Auto-Submitted"), "auto-replied".into()))
            .raw_header(HeaderValue::new(HeaderName::new_from_ascii_str("X-Auto-Response-Suppress"), "All".into()));
        if let Some(id) = &reply.in_reply_to {
            builder = builder.in_reply_to(format!("<{id}>"));
        }
        if !reply.references.is_empty() {
            let refs: Vec<String> = reply.references.iter().map(|r| format!("<{r}>")).collect();
            builder = builder.references(refs.join(" "));
        }
        let body = MultiPart::alternative()
            .singlepart(SinglePart::builder().header(ContentType::TEXT_PLAIN).body(reply.text.clone()))
            .singlepart(SinglePart::builder().header(ContentType::TEXT_HTML).body(reply.html.clone()));
        builder.multipart(body).map_err(|e| EmailError::Send(e.to_string()))
    }

    /// Sends `reply`, retrying transient failures; `Ok` once the relay accepted it.
    pub async fn send(&self, reply: &Reply) -> Result<(), EmailError> {
        let Some(transport) = &self.transport else {
            return Err(EmailError::Send("no SMTP relay is configured (email.smtp_host)".into()));
        };
        let message = self.build(reply)?;
        let mut delay = self.retry_delay;
        for attempt in 1..=self.attempts {
            match transport.send(message.clone()).await {
                Ok(_) => return Ok(()),
                Err(e) if e.is_permanent() || attempt == self.attempts => {
                    return Err(EmailError::Send(format!("attempt {attempt} of {}: {e}", self.attempts)));
                }
                Err(e) => {
                    tracing::warn!(error = %e, attempt, to = %reply.to, "sending a reply failed; trying again");
                    tokio::time::sleep(delay).await;
                    delay *= 2;
                }
            }
        }
        unreachable!("the last attempt returns")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reply() -> Reply {
        Reply {
            to: "coder@example.com".into(),
            subject: "Re: J1885".into(),
            in_reply_to: Some("q2@example.com".into()),
            references: vec!["q1@example.com".into(), "q2@example.com".into()],
            message_id: "r2@codecite.test".into(),
            text: "J1885 [1]".into(),
            html: "<p>J1885</p>".into(),
        }
    }

    #[test]
    fn a_reply_is_threaded_marked_automatic_and_multipart() {
        let config = EmailConfig { from: "codecite <answers@codecite.test>".into(), ..Default::default() };
        let mailer = Mailer::new(&config).unwrap();
        assert_eq!(mailer.address(), "answers@codecite.test");
        assert!(mailer.new_message_id().ends_with("@codecite.test"));
        let text = String::from_utf8(mailer.build(&reply()).unwrap().formatted()).unwrap();
        for needle in [
            "Message-ID: <r2@codecite.test>",
            "In-Reply-To: <q2@example.com>",
            "References: <q1@example.com> <q2@example.com>",
            "Auto-Submitted: auto-replied",
            "multipart/alternative",
            "text/plain",
            "text/html",
        ] {
            assert!(text.contains(needle), "{needle} missing from\n{text}");
        }
        assert!(Mailer::new(&EmailConfig { from: "not an address".into(), ..Default::default() }).is_err());
    }

    #[tokio::test]
    async fn tls_relays_are_set_up_without_connecting() {
        for security in [SmtpSecurity::Starttls, SmtpSecurity::Tls] {
            let config = EmailConfig { smtp_host: Some("smtp.example.org".into()), smtp_security: security, ..Default::default() };
            assert!(Mailer::new(&config).is_ok(), "{security:?}");
        }
        // No relay: the send fails at once, saying why.
        let err = Mailer::new(&EmailConfig::default()).unwrap().send(&reply()).await.unwrap_err();
        assert!(err.to_string().contains("email.smtp_host"), "{err}");
    }
}
