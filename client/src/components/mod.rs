//! Views. Each renders signals from [`crate::store::Store`] and calls its
//! actions; none holds logic of its own beyond the text in its inputs.
//!
//! Element ids and classes used by the browser tests are listed on each
//! component and must stay stable.

mod alarms;
mod bridges;
mod broker;
mod chart;
mod cluster;
mod connection;
mod control;
mod device;
mod devices;
mod events;
mod fields;
mod header;
mod message_list;
mod publish_form;
mod roles;
mod topics;
mod users;

pub use alarms::AlarmsPage;
pub use bridges::BridgesPage;
pub use broker::BrokerPage;
pub use chart::{ChartData, Sparkline, TimeChart};
pub use cluster::ClusterPage;
pub use connection::ConnectionPage;
pub use device::DevicePage;
pub use devices::DevicesPage;
pub use events::EventsPage;
pub use header::Header;
pub use message_list::MessageList;
pub use publish_form::{PublishForm, Subscriptions};
pub use topics::TopicsPage;
pub use users::UsersPage;
