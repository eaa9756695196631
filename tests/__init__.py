# A regular package, so `tests.*` is always this suite: a dependency that installs its own
# top-level `tests` package (confusables does) would otherwise shadow a namespace package.
