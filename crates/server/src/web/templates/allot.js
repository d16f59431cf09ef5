// Allot's own small script. Every page works without it; it only adds confirm dialogs,
// line numbers that follow the rules editor, and a check of required fields before a post.
(function () {
  "use strict";
  document.addEventListener("submit", function (event) {
    var form = event.target;
    var button = event.submitter;
    var question = (button && button.getAttribute("data-confirm")) || form.getAttribute("data-confirm");
    if (question && !window.confirm(question)) {
      event.preventDefault();
    }
  });
  document.querySelectorAll("input[required], textarea[required]").forEach(function (input) {
    input.addEventListener("blur", function () {
      input.setAttribute("aria-invalid", input.value.trim() === "" ? "true" : "false");
    });
  });
  var source = document.getElementById("source");
  var gutter = document.querySelector(".numbered .gutter");
  if (source && gutter) {
    var number = function () {
      var lines = source.value.split("\n").length + 5;
      var text = [];
      for (var line = 1; line <= lines; line += 1) {
        text.push(String(line));
      }
      gutter.textContent = text.join("\n");
      gutter.scrollTop = source.scrollTop;
    };
    source.addEventListener("input", number);
    source.addEventListener("scroll", function () {
      gutter.scrollTop = source.scrollTop;
    });
    number();
  }
})();
