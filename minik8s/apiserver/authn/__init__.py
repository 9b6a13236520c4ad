"""Authentication: who a request is, as a chain of small authenticators (Kubernetes' union).

    x509.py        client certificates verified against `--client-ca-file` (CN user, O groups)
    tokenfile.py   the static token file (`--token-auth-file`)
    chain.py       the order: client certificate, then bearer token authenticators, then
                   anonymous (`--anonymous-auth`) for requests that present no credential
    impersonation.py  `Impersonate-User/Group/Uid/Extra-*` for holders of `impersonate`

The seam for more bearer-token authenticators (ServiceAccount JWTs, a webhook) is the
`TokenAuthenticator` protocol in `chain.py`: a token in, a `UserInfo` or None out. Append one
to the list `app.token_authenticators(settings, cache)` returns (it runs at start, with the
watch cache); TokenReview and every request then use it.
"""
