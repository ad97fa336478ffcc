// The try-out page: a person switch and Bot Framework Web Chat, talking to the bot through its
// own Direct Line endpoint (bot/webchat.py). Every person has one conversation with the bot;
// switching reconnects Web Chat to that person's conversation, whose history the server keeps.
'use strict';

(function () {
  const select = document.getElementById('persoon');
  const container = document.getElementById('webchat');
  // Roles in the order the process meets them; labels are the page's Dutch.
  const ROLE_ORDER = ['', 'gemeentelijk_aanspreekpunt', 'coordinator', 'expert', 'beheerder'];
  let directLine = null;

  function showError(message) {
    document.getElementById('fout-tekst').textContent = message;
    document.getElementById('fout').hidden = false;
  }

  function roleLabel(person) {
    if (!person.roles.length) {
      return 'aanvrager';
    }
    const scopes = role =>
      person.roles.filter(held => held.role === role).map(held => held.scope_name).join(', ');
    const labels = [];
    if (scopes('gemeentelijk_aanspreekpunt')) {
      labels.push('gemeentelijk aanspreekpunt ' + scopes('gemeentelijk_aanspreekpunt'));
    }
    if (scopes('coordinator')) {
      labels.push('coördinator ' + scopes('coordinator'));
    }
    for (const flag of ['expert', 'beheerder']) {
      if (person.roles.some(held => held.role === flag)) {
        labels.push(flag);
      }
    }
    return labels.join(', ');
  }

  function rank(person) {
    return Math.min(
      ...(person.roles.length ? person.roles.map(held => ROLE_ORDER.indexOf(held.role)) : [0])
    );
  }

  async function post(url, body) {
    const response = await fetch(url, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify(body)
    });
    if (!response.ok) {
      throw new Error(`${url} gaf ${response.status}`);
    }
    return response.json();
  }

  async function connect(personId) {
    container.dataset.status = 'verbinden';
    container.dataset.persoon = personId;
    const session = await post('/webchat/session', { person: personId });
    if (directLine) {
      directLine.end();
    }
    directLine = window.WebChat.createDirectLine({
      domain: `${window.location.origin}/v3/directline`,
      token: session.token,
      webSocket: false,
      // The server holds a poll until something arrives (bot/webchat.py), so polling often
      // costs nothing while idle and shows replies at once.
      pollingInterval: 200
    });
    const connection = directLine;
    connection.connectionStatus$.subscribe(status => {
      // DirectLineJS: 2 = online, 4 = failed to connect.
      if (connection === directLine) {
        container.dataset.status = status === 2 ? 'online' : status === 4 ? 'mislukt' : 'verbinden';
      }
    });
    // A fresh element per person: Web Chat starts with that conversation's own history.
    const element = document.createElement('div');
    container.replaceChildren(element);
    window.WebChat.renderWebChat(
      {
        directLine: connection,
        userID: session.userId,
        username: session.name,
        locale: 'nl-NL',
        styleOptions: {
          hideUploadButton: true,
          botAvatarInitials: 'RB',
          userAvatarInitials: session.name
            .split(' ')
            .map(part => part[0])
            .join('')
            .slice(0, 2)
        }
      },
      element
    );
    document.title = `${session.name} – Rapportagebot`;
    window.location.hash = `persoon=${encodeURIComponent(personId)}`;
  }

  async function start() {
    if (!window.WebChat) {
      document.getElementById('geen-webchat').hidden = false;
      container.hidden = true;
    }
    const response = await fetch('/webchat/people');
    const { people } = await response.json();
    people.sort((a, b) => rank(a) - rank(b) || a.name.localeCompare(b.name, 'nl'));
    select.replaceChildren(
      ...people.map(person => new Option(`${person.name} — ${roleLabel(person)}`, person.id))
    );
    if (!people.length) {
      select.replaceChildren(new Option('geen personen in het register', ''));
      showError('Het register is leeg. Laad het demoregister met `make run` of ' +
        '`.venv/bin/python -m bot admin import knowledge/registry/demo.yaml`.');
      return;
    }
    const wanted = decodeURIComponent((window.location.hash.match(/persoon=([^&]+)/) || [])[1] || '');
    select.value = people.some(person => person.id === wanted) ? wanted : people[0].id;
    select.disabled = false;
    if (!window.WebChat) {
      return;
    }
    select.addEventListener('change', () => connect(select.value).catch(error => showError(error.message)));
    await connect(select.value);
  }

  start().catch(error => showError(`De pagina kon niet starten: ${error.message}`));
})();
