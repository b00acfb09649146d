//! The provider clients against scripted fake servers with the real request and response
//! shapes.
