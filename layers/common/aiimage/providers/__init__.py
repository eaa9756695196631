"""AI image providers behind one protocol: submit, poll, cancel."""
