//! The administration part of the store: the bridges and users pages'
//! requests to the broker's `$CONTROL/kite/v1` API over the dashboard's
//! own connection, and what the responses say, as signals. The first
//! request subscribes to the response topic; while a page is open
//! ([`ControlStore::watch`]) its lists are asked for every
//! [`POLL_MS`]. The requests and their matching are
//! [`crate::state::control::Asker`]'s; this part sends and delivers.
//!
//! When the broker refuses the API (the subscription refused, a PUBACK
//! refusing the request, or responses saying "not authorized"),
//! [`ControlStore::problem`] says so and what to do.

use kite_convention::control::{Response, RESPONSE_TOPIC};
use leptos::prelude::*;
use mqtt::Publish;
use serde_json::Value;

use super::ConnectionStore;
use crate::platform;
use crate::state::control::bridges::{self, BridgeBook, BridgeForm};
use crate::state::control::users::{self, AdminBook, RoleForm, UserForm};
use crate::state::control::{
    refusal, Asker, Board, Form, Listening, Outcome, Purpose, ADMIN_HINT, ANSWER_TIMEOUT_MS,
    POLL_MS,
};
use crate::state::ConnState;

/// QoS of the response topic's subscription.
const RESPONSE_QOS: u8 = 1;

/// Asks the administration API and delivers its responses; `Copy`, like
/// the signals it holds.
#[derive(Clone, Copy)]
pub struct ControlStore {
    connection: ConnectionStore,
    asker: StoredValue<Asker, LocalStorage>,
    /// The page polling its lists, and when it last asked.
    watching: StoredValue<Option<(Board, u64)>>,
    /// The packet id of the request in flight (QoS 1), for its PUBACK.
    pid: StoredValue<Option<u16>>,
    pub bridges: RwSignal<BridgeBook>,
    pub admin: RwSignal<AdminBook>,
    /// Why the API cannot be used from this connection, and what to do.
    pub problem: RwSignal<Option<String>>,
    pub bridge_form: RwSignal<BridgeForm>,
    pub user_form: RwSignal<UserForm>,
    pub role_form: RwSignal<RoleForm>,
    /// The last save of each form.
    pub bridge_outcome: RwSignal<Option<Outcome>>,
    pub user_outcome: RwSignal<Option<Outcome>>,
    pub role_outcome: RwSignal<Option<Outcome>>,
    pub default_outcome: RwSignal<Option<Outcome>>,
    /// The last row action of each page (pause, delete, disconnect, ...).
    pub bridges_status: RwSignal<Option<Outcome>>,
    pub users_status: RwSignal<Option<Outcome>>,
}

impl ControlStore {
    /// Asks nothing until a page does.
    pub fn new(connection: ConnectionStore) -> ControlStore {
        let control = ControlStore {
            connection,
            asker: StoredValue::new_local(Asker::default()),
            watching: StoredValue::new(None),
            pid: StoredValue::new(None),
            bridges: RwSignal::new(BridgeBook::default()),
            admin: RwSignal::new(AdminBook::default()),
            problem: RwSignal::new(None),
            bridge_form: RwSignal::new(BridgeForm::default()),
            user_form: RwSignal::new(UserForm::default()),
            role_form: RwSignal::new(RoleForm::default()),
            bridge_outcome: RwSignal::new(None),
            user_outcome: RwSignal::new(None),
            role_outcome: RwSignal::new(None),
            default_outcome: RwSignal::new(None),
            bridges_status: RwSignal::new(None),
            users_status: RwSignal::new(None),
        };
        platform::every(500, move || control.tick());
        control
    }

    /// The page `board` opened: ask for its lists now and every
    /// [`POLL_MS`] until [`ControlStore::unwatch`].
    pub fn watch(&self, board: Board) {
        self.watching.set_value(Some((board, 0)));
        if board == Board::Users {
            self.ask(Purpose::Admin, users::admin_commands());
        }
        self.poll();
    }

    /// The page `board` closed (another may have opened already).
    pub fn unwatch(&self, board: Board) {
        self.watching.update_value(|w| {
            if w.is_some_and(|(b, _)| b == board) {
                *w = None;
            }
        });
    }

    /// Save the bridge form: `createBridge` or `modifyBridge`.
    pub fn save_bridge(&self) {
        match self.bridge_form.with_untracked(BridgeForm::command) {
            Ok(command) => {
                self.bridge_outcome.set(None);
                self.ask(Purpose::Form(Form::Bridge), vec![command]);
            }
            Err(outcome) => self.bridge_outcome.set(Some(outcome)),
        }
    }

    /// Pause or resume the bridge `name`.
    pub fn pause_bridge(&self, name: &str, pause: bool) {
        let what = format!("{} {name}", if pause { "pause" } else { "resume" });
        self.act(Board::Bridges, what, bridges::pause_command(name, pause));
    }

    pub fn delete_bridge(&self, name: &str) {
        self.act(
            Board::Bridges,
            format!("delete {name}"),
            bridges::delete_command(name),
        );
    }

    /// Save the user form: `createClient` or `modifyClient`.
    pub fn save_user(&self) {
        match self.user_form.with_untracked(UserForm::command) {
            Ok(command) => {
                self.user_outcome.set(None);
                self.ask(Purpose::Form(Form::User), vec![command]);
            }
            Err(outcome) => self.user_outcome.set(Some(outcome)),
        }
    }

    /// Save the role form: `createRole` or `modifyRole`.
    pub fn save_role(&self) {
        match self.role_form.with_untracked(RoleForm::command) {
            Ok(command) => {
                self.role_outcome.set(None);
                self.ask(Purpose::Form(Form::Role), vec![command]);
            }
            Err(outcome) => self.role_outcome.set(Some(outcome)),
        }
    }

    /// Save the default access.
    pub fn save_default_access(&self, allow: [bool; 4]) {
        self.default_outcome.set(None);
        self.ask(
            Purpose::Form(Form::DefaultAccess),
            vec![users::default_access_command(allow)],
        );
    }

    /// A row's button on the users page: `command` with `fields`.
    pub fn user_action(&self, what: String, command: &str, fields: Value) {
        self.act(
            Board::Users,
            what,
            crate::state::control::command(command, fields),
        );
    }

    fn act(&self, page: Board, what: String, command: Value) {
        let status = match page {
            Board::Bridges => self.bridges_status,
            Board::Users => self.users_status,
        };
        status.set(None);
        self.ask(Purpose::Action { page, what }, vec![command]);
    }

    /// Queue a request, subscribing to the response topic first if need
    /// be; nothing is asked while disconnected.
    fn ask(&self, purpose: Purpose, commands: Vec<Value>) {
        if self.connection.conn_state.get_untracked() != ConnState::Connected {
            return;
        }
        let Some(subscribe) = self.asker.try_update_value(|a| a.ask(purpose, commands)) else {
            return;
        };
        if subscribe {
            match self
                .connection
                .subscribe_builtin(RESPONSE_TOPIC, RESPONSE_QOS)
            {
                Ok(()) => self.asker.update_value(Asker::subscribing),
                Err(why) => self.problem.set(Some(format!("no response topic: {why}"))),
            }
        }
        self.pump();
    }

    /// Send the next request if one may go.
    fn pump(&self) {
        let now = platform::now_ms();
        let Some(out) = self.asker.try_update_value(|a| a.next(now)).flatten() else {
            return;
        };
        match self.connection.send_tracked(&out) {
            Ok(pid) => self.pid.set_value(pid),
            Err(why) => {
                if let Some(asked) = self.asker.try_update_value(Asker::unsent).flatten() {
                    self.fail(asked.purpose, format!("not sent: {why}"));
                }
            }
        }
    }

    /// Every half second: give up on a response that does not come, and
    /// poll the open page's lists.
    fn tick(&self) {
        let now = platform::now_ms();
        if let Some(asked) = self.asker.try_update_value(|a| a.expire(now)).flatten() {
            let why = format!(
                "the broker did not answer within {} s. {ADMIN_HINT}",
                ANSWER_TIMEOUT_MS / 1000
            );
            self.problem.set(Some(why.clone()));
            self.fail(asked.purpose, why);
            self.pump();
        }
        self.poll();
    }

    /// Ask for the open page's live list when it is due.
    fn poll(&self) {
        let now = platform::now_ms();
        let Some((board, last)) = self.watching.get_value() else {
            return;
        };
        if now.saturating_sub(last) < POLL_MS {
            return;
        }
        self.watching.set_value(Some((board, now)));
        match board {
            Board::Bridges => self.ask(Purpose::Bridges, vec![bridges::list_command()]),
            Board::Users => self.ask(Purpose::Sessions, vec![users::sessions_command()]),
        }
    }

    /// The link changed: anything but connected ends what was in flight.
    pub fn state(&self, state: ConnState) {
        if state == ConnState::Connected {
            // Perhaps as someone else: what the API said before no longer holds.
            self.problem.set(None);
            // Polls start again; the admin lists too.
            if let Some((board, _)) = self.watching.get_value() {
                self.watch(board);
            }
            return;
        }
        let listed = self
            .connection
            .subscriptions
            .with_untracked(|s| s.list.iter().any(|sub| sub.filter == RESPONSE_TOPIC));
        self.asker.update_value(|a| a.lost(listed));
        self.pid.set_value(None);
    }

    /// A SUBACK: once the response topic is granted, the requests go.
    pub fn subscribed(&self, filters: &[String], results: &[Result<u8, String>]) {
        match self
            .asker
            .try_update_value(|a| a.subscribed(filters, results))
            .flatten()
        {
            Some(Ok(())) => self.pump(),
            Some(Err(why)) => self.problem.set(Some(format!(
                "The broker refused this connection the API's responses \
                 ($CONTROL/kite/v1/response: {why}). {ADMIN_HINT}"
            ))),
            None => {}
        }
    }

    /// A PUBACK: the broker may refuse the request itself (MQTT 5: 0x87
    /// when the ACL does not let this user publish there).
    pub fn published(&self, pid: u16, result: &Result<(), String>) {
        if self.pid.get_value() != Some(pid) {
            return;
        }
        self.pid.set_value(None);
        if let Err(why) = result {
            if let Some(asked) = self.asker.try_update_value(Asker::unsent).flatten() {
                let why = format!("The broker refused the request ({why}). {ADMIN_HINT}");
                self.problem.set(Some(why.clone()));
                self.fail(asked.purpose, why);
            }
            self.pump();
        }
    }

    /// A message from the broker: true when it was a response (taken here,
    /// not to be shown as a message).
    pub fn receive(&self, publish: &Publish) -> bool {
        let Some(answer) = self
            .asker
            .try_update_value(|a| a.answer(&publish.topic, &publish.payload))
            .flatten()
        else {
            return false;
        };
        if let Some((asked, responses)) = answer {
            self.pid.set_value(None);
            self.deliver(asked.purpose, &responses);
            self.pump();
        }
        true
    }

    /// A request that got no responses: tell whoever asked.
    fn fail(&self, purpose: Purpose, why: String) {
        let response = Response {
            error: Some(why),
            ..Response::default()
        };
        self.deliver(purpose, &[response]);
    }

    fn deliver(&self, purpose: Purpose, responses: &[Response]) {
        let now = platform::now_ms();
        let refused = refusal(responses);
        let list = |result: Result<(), String>| match result {
            Ok(()) => {
                if self.problem.with_untracked(Option::is_some) {
                    self.problem.set(None);
                }
                None
            }
            Err(e) => Some(e),
        };
        match purpose {
            Purpose::Bridges => {
                let mut result = Err(String::new());
                self.bridges.update(|b| {
                    result = match crate::state::control::data_of(responses, "listBridges") {
                        Ok(data) => b.update(data, now),
                        Err(e) => Err(e),
                    };
                    if let Err(e) = &result {
                        b.error = Some(e.clone());
                    }
                });
                list(result);
            }
            Purpose::Admin => {
                let mut result = Ok(());
                self.admin.update(|a| {
                    result = a.update_admin(responses);
                    a.error = result.clone().err();
                });
                list(result);
            }
            Purpose::Sessions => {
                let mut result = Ok(());
                self.admin.update(|a| {
                    result = a.update_sessions(responses, now);
                    a.error = result.clone().err();
                });
                list(result);
            }
            Purpose::Form(form) => {
                type Named = fn(&str) -> bool;
                type At = fn(&str) -> &str;
                let same: At = |f| f;
                let (signal, done, shows, at): (_, _, Named, At) = match form {
                    Form::Bridge => (
                        self.bridge_outcome,
                        "bridge saved",
                        bridges::shows,
                        bridges::shown_at,
                    ),
                    Form::User => (
                        self.user_outcome,
                        "user saved",
                        |f| users::USER_FIELDS.contains(&f),
                        same,
                    ),
                    Form::Role => (
                        self.role_outcome,
                        "role saved",
                        |f| users::ROLE_FIELDS.contains(&f),
                        users::role_field,
                    ),
                    Form::DefaultAccess => (
                        self.default_outcome,
                        "default access saved",
                        |f| f == "acls",
                        same,
                    ),
                };
                let outcome = Outcome::from_responses(responses, done, shows).remap(at);
                let ok = outcome.ok;
                signal.set(Some(outcome));
                if ok {
                    self.saved(form);
                }
            }
            Purpose::Action { page, what } => {
                let outcome =
                    Outcome::from_responses(responses, &format!("{what}: done"), |_| false);
                let outcome = if outcome.ok {
                    outcome
                } else {
                    Outcome {
                        general: vec![format!("{what}: {}", outcome.summary())],
                        ..outcome
                    }
                };
                match page {
                    Board::Bridges => {
                        self.bridges_status.set(Some(outcome));
                        self.ask(Purpose::Bridges, vec![bridges::list_command()]);
                    }
                    Board::Users => {
                        self.users_status.set(Some(outcome));
                        self.ask(Purpose::Admin, users::admin_commands());
                        self.ask(Purpose::Sessions, vec![users::sessions_command()]);
                    }
                }
            }
        }
        if let Some(refused) = refused {
            self.problem.set(Some(refused));
        }
    }

    /// A form was saved: it starts afresh, and the lists are asked again.
    fn saved(&self, form: Form) {
        match form {
            Form::Bridge => {
                self.bridge_form.set(BridgeForm::default());
                self.ask(Purpose::Bridges, vec![bridges::list_command()]);
            }
            Form::User => {
                self.user_form.set(UserForm::default());
                self.ask(Purpose::Admin, users::admin_commands());
            }
            Form::Role => {
                self.role_form.set(RoleForm::default());
                self.ask(Purpose::Admin, users::admin_commands());
            }
            Form::DefaultAccess => self.ask(Purpose::Admin, users::admin_commands()),
        }
    }

    /// Is the response topic refused on this connection?
    pub fn refused(&self) -> bool {
        self.asker
            .try_with_value(|a| matches!(a.listening, Listening::Refused(_)))
            .unwrap_or(false)
    }
}
