"""Provider emulators: small HTTP servers that speak each provider's documented protocol,
answer with real images from the local enhancer, and inject faults on request."""
