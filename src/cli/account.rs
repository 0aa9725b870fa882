//! `codecite account …`: the operator's view of accounts, plans and the usage ledger.
//! Works on the SQL database alone, so it runs beside a serving instance.

use anyhow::Context;
use clap::Subcommand;
use codecite::config::Config;
use codecite::metering::{Account, Meter, Metering};

#[derive(Subcommand)]
pub enum AccountCommand {
    /// Create an account and an API key for it; the key is the last line printed.
    Create {
        #[arg(long)]
        email: String,
        #[arg(long, default_value = "free")]
        plan: String,
        /// A name for the key, to tell keys apart.
        #[arg(long, default_value = "default")]
        key_name: String,
        /// Mark the email verified at once (you know the address is the holder's): it may
        /// then ask questions by email.
        #[arg(long)]
        email_verified: bool,
    },
    /// Mark an account's email verified, so that it may ask questions by email.
    VerifyEmail {
        /// Email or account id.
        #[arg(long)]
        email: String,
    },
    /// Move an account to another plan and/or give it extra units for the current period.
    Grant {
        /// Email or account id.
        #[arg(long)]
        email: String,
        #[arg(long)]
        plan: Option<String>,
        #[arg(long)]
        questions: Option<i64>,
        #[arg(long)]
        code_views: Option<i64>,
    },
    /// Make another API key for an account; the key is the last line printed.
    Key {
        #[arg(long)]
        email: String,
        #[arg(long, default_value = "default")]
        name: String,
    },
    /// One account: plan, balances and keys.
    Show {
        #[arg(long)]
        email: String,
    },
    /// Accounts, registered ones first.
    List {
        /// Include guests.
        #[arg(long)]
        guests: bool,
        #[arg(long, default_value_t = 100)]
        limit: usize,
    },
    /// An account's usage ledger (reservations, charges, refunds, grants), oldest first.
    Usage {
        #[arg(long)]
        email: String,
        #[arg(long, default_value_t = 50)]
        limit: usize,
        #[arg(long)]
        json: bool,
    },
}

pub async fn run(config: &Config, command: AccountCommand) -> anyhow::Result<()> {
    let metering = codecite::app::open_metering(config).await?;
    match command {
        AccountCommand::Create { email, plan, key_name, email_verified } => {
            let mut account = metering.create_account(&email, &plan).await?;
            if email_verified {
                account = metering.verify_email(&account).await?;
            }
            let key = metering.create_key(&account, &key_name).await?;
            println!("account {} ({}, plan {})", account.id, email_of(&account), account.plan);
            println!("API key {} ({}); it is shown only now:", key.id, key.name);
            println!("{}", key.key);
        }
        AccountCommand::Grant { email, plan, questions, code_views } => {
            anyhow::ensure!(
                plan.is_some() || questions.is_some() || code_views.is_some(),
                "say what to grant: --plan, --questions or --code-views"
            );
            let mut account = metering.find_account(&email).await?;
            if let Some(plan) = plan {
                account = metering.set_plan(&account, &plan).await?;
            }
            for (meter, amount) in [(Meter::Questions, questions), (Meter::CodeViews, code_views)] {
                if let Some(n) = amount {
                    metering.grant(&account, meter, n).await?;
                }
            }
            show(&metering, &account).await?;
        }
        AccountCommand::Key { email, name } => {
            let account = metering.find_account(&email).await?;
            let key = metering.create_key(&account, &name).await.context("making the key")?;
            println!("API key {} ({}) for {}; it is shown only now:", key.id, key.name, email_of(&account));
            println!("{}", key.key);
        }
        AccountCommand::VerifyEmail { email } => {
            let account = metering.verify_email(&metering.find_account(&email).await?).await?;
            println!("{} is verified: it may ask questions by email", email_of(&account));
        }
        AccountCommand::Show { email } => show(&metering, &metering.find_account(&email).await?).await?,
        AccountCommand::List { guests, limit } => {
            println!("{:<36}  {:<32}  {:<8}  {:>9}  {:>10}", "id", "email", "plan", "questions", "code views");
            for account in metering.list_accounts(guests, limit).await? {
                let q = metering.balance(&account, Meter::Questions).await?;
                let v = metering.balance(&account, Meter::CodeViews).await?;
                println!("{:<36}  {:<32}  {:<8}  {:>9}  {:>10}", account.id, email_of(&account), account.plan, q.used, v.used);
            }
        }
        AccountCommand::Usage { email, limit, json } => {
            let account = metering.find_account(&email).await?;
            let rows = metering.ledger(&account, limit).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&rows)?);
            } else {
                for r in rows {
                    let at = chrono::DateTime::from_timestamp_millis(r.at).map(|t| t.to_rfc3339()).unwrap_or_default();
                    let settles = r.settles.map(|s| format!(" settles {s}")).unwrap_or_default();
                    println!(
                        "{at}  {:<10} {:<8} {:<7} {:>3}  {}{settles}  [{}]",
                        r.meter,
                        r.period,
                        r.kind,
                        r.amount,
                        r.detail.unwrap_or_default(),
                        r.id
                    );
                }
            }
        }
    }
    Ok(())
}

fn email_of(account: &Account) -> &str {
    account.email.as_deref().unwrap_or("(guest)")
}

async fn show(metering: &Metering, account: &Account) -> anyhow::Result<()> {
    let verified = if account.email_verified_at.is_some() { " (verified)" } else if account.is_guest() { "" } else { " (not verified)" };
    println!("account {}\nemail   {}{verified}\nplan    {}", account.id, email_of(account), account.plan);
    for meter in Meter::ALL {
        let b = metering.balance(account, meter).await?;
        let limit = match b.remaining {
            Some(left) => format!("{left} remaining"),
            None => "unlimited".into(),
        };
        let resets = b.resets_at.map(|t| format!(", resets {t}")).unwrap_or_default();
        println!("{:<10} {} used in {} (+{} granted), {limit}{resets}", meter.as_str(), b.used, b.period, b.granted);
    }
    for key in metering.list_keys(account).await? {
        let state = if key.revoked_at.is_some() { "revoked" } else { "active" };
        println!("key     {} {}… {:?} {state}", key.id, key.prefix, key.name);
    }
    Ok(())
}
