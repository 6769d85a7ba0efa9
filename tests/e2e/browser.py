"""Headless Chromium (Debian's `chromium` and `chromium-driver` packages) driven by Selenium.

`make test` installs the two packages when it can (root and apt-get); where it cannot,
the browser tests skip and say why. Nothing is downloaded at run time: Selenium is
given the driver's path, so its driver manager never runs.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from pathlib import Path
from typing import Iterator

import pytest

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome")


def browser_paths() -> tuple[str, str] | None:
    browser = os.environ.get("CHROMIUM_PATH") or next(filter(None, map(shutil.which, CHROMIUM_NAMES)), None)
    driver = os.environ.get("CHROMEDRIVER_PATH") or shutil.which("chromedriver")
    return (browser, driver) if browser and driver else None


@contextlib.contextmanager
def chromium(screenshots: Path) -> Iterator[object]:
    """A headless Chromium; on any failure inside the block, a screenshot of every tab is
    saved in `screenshots` (named in the failure) before the error goes on."""
    paths = browser_paths()
    if paths is None:
        pytest.skip("no Chromium here: `make test` installs Debian's chromium and chromium-driver when it runs as "
                    "root with apt-get; otherwise install them (or set CHROMIUM_PATH and CHROMEDRIVER_PATH)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = paths[0]
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1280,900",
                     "--disable-gpu", "--lang=en-US",
                     # a fake microphone (a tone) that needs no permission prompt, for the record button
                     "--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream"):
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service(paths[1]), options=options)
    driver.set_page_load_timeout(60)
    try:
        yield driver
    except BaseException:
        screenshots.mkdir(parents=True, exist_ok=True)
        saved = []
        for index, handle in enumerate(driver.window_handles):
            with contextlib.suppress(Exception):
                driver.switch_to.window(handle)
                path = screenshots / f"failure-tab{index}.png"
                driver.save_screenshot(str(path))
                (screenshots / f"failure-tab{index}.html").write_text(driver.page_source)
                saved.append(str(path))
        print(f"browser screenshots: {', '.join(saved) or 'none could be taken'}")
        raise
    finally:
        driver.quit()
