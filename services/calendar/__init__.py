"""The calendar service: each user's calendar behind the `calendar` NATS micro service."""
