"""Where the people directory's answers come from: the config's table, a people file,
Exchange through EWS or Microsoft Graph. Only these (and bot/app.py) import them."""
