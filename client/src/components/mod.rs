//! Views. Each renders signals from [`crate::store::Store`] and calls its
//! actions; none holds logic of its own beyond the text in its inputs.
//!
//! Element ids and classes used by the browser tests are listed on each
//! component and must stay stable.

mod header;
mod message_list;
mod publish_form;

pub use header::Header;
pub use message_list::MessageList;
pub use publish_form::PublishForm;
