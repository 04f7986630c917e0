// The beat schedule's periodic task form: under the crontab field, the chosen
// schedule in words (what django-celery-beat's own inline script does; the
// portal's Content Security Policy runs no inline script).
(function () {
  const data = document.getElementById("readable-crontabs");
  const script = document.currentScript;
  if (!data || !window.django || !django.jQuery) return;
  const readable = JSON.parse(data.textContent);
  const help = script.dataset.crontabHelp || "";
  const $ = django.jQuery;
  $(".field-crontab_translation").hide();
  $(".field-crontab").change(function () {
    const line = $(".field-crontab .help").text(help);
    line.append(document.createElement("br"), document.createTextNode(
      "Translation: " + (readable[$("#id_crontab").val()] || "")));
  });
})();
