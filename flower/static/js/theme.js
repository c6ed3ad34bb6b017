/* Runs in <head>, before the page paints: applies the remembered colour theme ("light", "dark", or "auto"
 * to follow the system) to <html data-bs-theme>. The menu in the navbar changes it (see flower.js). */
(function () {
  'use strict';
  var KEY = 'flower-theme';
  var media = window.matchMedia ? window.matchMedia('(prefers-color-scheme: dark)') : null;

  function stored() {
    try {
      var value = window.localStorage.getItem(KEY);
      return value === 'light' || value === 'dark' ? value : 'auto';
    } catch (e) {
      return 'auto';  // storage can be disabled; follow the system then
    }
  }

  function resolve(choice) {
    if (choice === 'light' || choice === 'dark') {
      return choice;
    }
    return media && media.matches ? 'dark' : 'light';
  }

  function apply(choice) {
    document.documentElement.setAttribute('data-bs-theme', resolve(choice));
    document.documentElement.setAttribute('data-theme-choice', choice);
  }

  function choose(choice) {
    try {
      if (choice === 'auto') {
        window.localStorage.removeItem(KEY);
      } else {
        window.localStorage.setItem(KEY, choice);
      }
    } catch (e) { /* not remembered, still applied */ }
    apply(choice);
  }

  apply(stored());
  if (media && media.addEventListener) {
    media.addEventListener('change', function () { apply(stored()); });
  }
  window.FlowerTheme = { choose: choose, current: stored };
}());
