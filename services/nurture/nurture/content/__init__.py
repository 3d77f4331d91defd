"""Message content as data: templates marketers write, rendered per lead for every channel."""
