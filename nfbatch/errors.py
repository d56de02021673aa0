"""The one error type nfbatch shows to users: a sentence saying what is wrong and, where known, the fix."""


class NfbatchError(Exception):
    def __init__(self, message: str, fix: str | None = None, exit_code: int = 2):
        super().__init__(message)
        self.message = message
        self.fix = fix
        self.exit_code = exit_code
