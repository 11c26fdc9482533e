"""DynamoDB access: the incidents table's conditional writes, the message log, once-only keys, replacement history."""
