"""`topicdesk plan|apply|export|requests|topics`: a client of the public HTTP API for CI pipelines.

It never touches the database: everything goes through /api/v1 with a team token, so what CI can
do is exactly what that team may do through the API.
"""
