"""The client identity: certificate files read, checked and turned into an SSL context.

``_context`` builds the context (and :class:`CertificateInfo`), ``_certfiles`` reads and
checks PEM/PKCS#12 files, ``_certinfo`` describes a certificate; ``certs`` is the public
face of these.
"""
