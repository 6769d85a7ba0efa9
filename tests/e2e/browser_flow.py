"""What the browser test does: chat as two users in two tabs of the web chat (text and a
voice note), then find the first conversation in the console and check its timeline.

With SCREENSHOTS_DIR set, the pages are also saved there (how docs/img is made).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Callable
from urllib.parse import quote

from tests.e2e.browser import chromium
from tests.waiting import scaled

FIRST, SECOND = "+15550002222", "+15550003333"
BOOKING = "Book a dentist appointment tomorrow at 10am"
VOICE = Path(__file__).resolve().parents[1] / "fixtures" / "voice" / "dentist.ogg"


def chat_then_inspect(console_url: str, screenshots: Path, stack_log: Callable[[], str]) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    keep = Path(os.environ["SCREENSHOTS_DIR"]) if os.environ.get("SCREENSHOTS_DIR") else None

    def wait(driver: Any, condition: Callable[[Any], Any], seconds: float, what: str) -> Any:
        return WebDriverWait(driver, scaled(seconds), poll_frequency=0.2).until(
            condition, message=f"{what} (stack log tail: {stack_log()[-3000:]})")

    def replies(driver: Any) -> list[Any]:
        return driver.find_elements(By.CSS_SELECTOR, "#messages li.theirs")

    def delivered_replies(driver: Any) -> list[str]:
        return [li.text for li in driver.find_elements(
            By.CSS_SELECTOR, "#messages li.theirs.status-delivered, #messages li.theirs.status-read")]

    def send(driver: Any, text: str = "", attachment: Path | None = None) -> None:
        if attachment is not None:
            driver.find_element(By.ID, "file").send_keys(str(attachment))
        if text:
            driver.find_element(By.ID, "body").send_keys(text)
        driver.find_element(By.ID, "send").click()

    with chromium(screenshots) as driver:
        driver.set_window_size(480, 860)
        driver.get(f"{console_url}/chat?user={quote(FIRST)}")
        first_tab = driver.current_window_handle
        send(driver, BOOKING)
        wait(driver, lambda d: any("Dentist" in text for text in delivered_replies(d)), 90,
             "the booking's reply, delivered (✓✓), in the web chat")
        sent_ticks = driver.find_elements(By.CSS_SELECTOR, "#messages li.mine .tick")
        assert sent_ticks and sent_ticks[0].text == "✓"
        def body(text: str) -> str:  # a bubble's text without its last line (time and ticks)
            return "\n".join(text.splitlines()[:-1]) or text

        booked = [body(text) for text in delivered_replies(driver) if "Dentist" in text]

        # A second user in a second tab, each tab seeing only its own conversation.
        driver.switch_to.new_window("tab")
        driver.get(f"{console_url}/chat?user={quote(SECOND)}")
        send(driver, "hello")
        wait(driver, lambda d: replies(d), 90, "a reply in the second user's tab")
        # (the help text names a dentist too: compare with the first user's actual reply)
        assert booked and not any(body(li.text) in booked for li in replies(driver))

        driver.switch_to.window(first_tab)
        before = len(replies(driver))
        send(driver, attachment=VOICE)  # a voice note, uploaded
        wait(driver, lambda d: len(replies(d)) > before, 180, "the voice note's reply")
        if keep:
            keep.mkdir(parents=True, exist_ok=True)
            driver.save_screenshot(str(keep / "web-chat.png"))

        # Recorded with the (fake) microphone: a tone, so the answer is the polite "no speech" one.
        before = len(replies(driver))
        record = driver.find_element(By.ID, "record")
        record.click()
        wait(driver, lambda d: "recording" in (record.get_attribute("class") or ""), 20, "recording to start")
        driver.execute_script("return new Promise(function (done) { setTimeout(done, 1500); })")  # let audio in
        record.click()
        wait(driver, lambda d: len(replies(d)) > before, 180, "the recorded voice note's reply")

        driver.set_window_size(1280, 900)
        driver.get(f"{console_url}/")
        search = driver.find_element(By.NAME, "q")
        search.send_keys("2222")
        search.submit()
        wait(driver, lambda d: d.find_elements(By.CSS_SELECTOR, "#conversations a"), 30, "the conversation listed")
        if keep:
            driver.save_screenshot(str(keep / "console-conversations.png"))
        driver.find_element(By.CSS_SELECTOR, "#conversations a").click()
        timeline = wait(driver, lambda d: d.find_element(By.ID, "timeline"), 30, "the timeline")

        def shows_everything(d: Any) -> bool:
            text = timeline.text
            return (BOOKING in text and "create_event" in text and "Dentist appointment" in text
                    and bool(d.find_elements(By.CSS_SELECTOR, "#timeline .badge-delivered"))
                    and "Transcribed voice note" in text)
        wait(driver, shows_everything, 60, "inbound text, tool call, reply, delivered and the transcript")
        inbound = driver.find_element(By.CSS_SELECTOR, "#timeline .entry-inbound .body").text
        assert inbound == BOOKING
        assert driver.find_element(By.CSS_SELECTOR, "#timeline .tool.ok code").text == "create_event"
        if keep:
            driver.save_screenshot(str(keep / "console-timeline.png"))
        driver.get(f"{console_url}/system")
        services = driver.find_element(By.ID, "services").text
        assert all(f"{name} ready" in services for name in ("gateway", "agent", "outbound")), services
        assert "events_handled_total" in driver.find_element(By.ID, "counters").text
        assert "agent-text" in driver.find_element(By.ID, "lag").text
        if keep:
            driver.save_screenshot(str(keep / "console-system.png"))
