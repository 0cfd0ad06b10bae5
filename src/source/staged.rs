//! The staged change: the index against `HEAD`, read from the object database.
