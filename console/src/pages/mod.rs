mod checklist;
mod editor;
mod history;
mod overview;
mod preview;
mod signin;
mod signoffs;
mod users;

pub use checklist::Checklist;
pub use editor::Editor;
pub use history::History;
pub use overview::Overview;
pub use preview::Preview;
pub use signin::SignIn;
pub use signoffs::Signoffs;
pub use users::Users;
