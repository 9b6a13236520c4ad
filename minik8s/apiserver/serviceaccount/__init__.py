"""ServiceAccounts in the apiserver: bound tokens (signed JWTs), their authenticator, the
TokenRequest subresource, the ServiceAccount admission and the OIDC discovery documents."""
