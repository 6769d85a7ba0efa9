"""Twilio's REST error shapes and the codes the emulator returns."""

from __future__ import annotations

from starlette.responses import JSONResponse

MESSAGES = {
    20003: "Authenticate",
    20404: "The requested resource was not found",
    20429: "Too Many Requests",
    20500: "Internal Server Error",
    21211: "The 'To' number is not a valid phone number.",
    21602: "Message body is required.",
    21603: "The 'From' phone number is required.",
    21604: "The 'To' phone number is required.",
    21606: "The 'From' phone number provided is not a valid message-capable Twilio phone number for this destination/account",
    21609: "Invalid StatusCallback url",
    21617: "The concatenated message body exceeds the 1600 character limit.",
    21655: "The ContentSid is Invalid.",
    21656: "The ContentVariables Parameter is invalid.",
    63016: "Failed to send freeform message because you are outside the allowed window. Please use a Template.",
}


class TwilioError(Exception):
    def __init__(self, status: int, code: int, message: str | None = None):
        super().__init__(message or MESSAGES.get(code, "error"))
        self.status = status
        self.code = code
        self.message = message or MESSAGES.get(code, "error")

    def response(self) -> JSONResponse:
        headers = {"WWW-Authenticate": 'Basic realm="Twilio API"'} if self.status == 401 else None
        return JSONResponse(
            {
                "code": self.code,
                "message": self.message,
                "more_info": f"https://www.twilio.com/docs/errors/{self.code}",
                "status": self.status,
            },
            status_code=self.status,
            headers=headers,
        )
