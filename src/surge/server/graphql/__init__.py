"""The GraphQL API at ``/v0/gql``, compatible with the Inngest dev server's (`endpoint.py`)."""
