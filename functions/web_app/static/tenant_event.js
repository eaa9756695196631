/* The tenant control room of one event (filled in by the next change). */
