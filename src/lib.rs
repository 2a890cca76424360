pub mod capture;
pub mod decode;
