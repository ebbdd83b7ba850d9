"""A deterministic benchmark corpus for bench/triage.py, built in memory.

Each source has its own seeded `random.Random`, so one seed gives the same bytes on
every machine and a change to one generator does not shift the others:

- emails of 1-20 KB: plain text, multipart/alternative, HTML only, quoted replies,
  inline forwards (Gmail, Outlook, Apple Mail, Thunderbird), message/rfc822 forwards,
  small base64 attachments, RFC 2047 subjects, English/German/French/Spanish bodies,
  auto-replies and bulk mail, with the transport headers real mail carries;
- Sentry webhook bodies for every resource, shaped like Sentry's documented payloads
  (read at run time from the shared corpus when it is there);
- Telegram Update objects with entities at UTF-16 offsets.

Texts are composed from sentence pools filled with random names, companies, numbers
and times, so triage sees many different words and combinations rather than one
message five thousand times. Nothing here reads or copies the shared examples as
corpus items: a Sentry example is only a template whose every identifying field is
overwritten.
"""

from __future__ import annotations

import base64
import copy
import html
import json
import quopri
import random
import unicodedata
import uuid
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from email.utils import format_datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
SHARED = REPO.parent / "shared"
WEBHOOK_DOCS = (
    SHARED / "corpora/sentry-docs/docs/organization/integrations/integration-platform/webhooks"
)
EXAMPLES = SHARED / "examples"
LANGS = ("en", "de", "fr", "es")
OUR_DOMAIN = "harbourline.io"
MAX_EMAIL = 20 * 1024
MIN_EMAIL = 1024

# --- text pools -------------------------------------------------------------------
#
# "## <pool> <lang>" starts a pool; every other non-blank line is one entry.
# Placeholders are filled per message: {service} {Service} {company} {name} {n}
# {pct} {time} {time2} {minutes} {secs} {ms} {days} {day} {month} {region}
# {ticket} {version} {phone} {addr2}.

_POOL_TEXT = """
## outage en
{Service} has been down for all of our users since {time}.
Since about {time} UTC we see 502 and 504 errors on {service} in {region}.
Customers cannot log in; the login page just keeps spinning.
The error rate on {service} jumped to {pct}% in the last {minutes} minutes.
Orders are failing at checkout with a timeout after {secs} seconds.
{company} says none of their {n} users can upload files since this morning.
The database primary in {region} went down and the failover did not kick in.
Card payments are being declined for roughly {pct}% of attempts.
We got {n} tickets in the last hour about the app crashing on start.
Can someone from the platform team look at this right now? It is still happening.
p99 latency on the API is at {ms} ms, normally it is under 200 ms.
Our status page is still green but {service} is unreachable from {region}.
The nightly sync to the warehouse failed and stock levels in the shop are wrong.
Drivers are stuck at the depot because the dispatch app is not loading.
All exports since {time} are missing rows; finance noticed it first.
Push notifications stopped working for Android users after release {version}.
## outage de
{Service} ist seit {time} Uhr für alle Kunden nicht erreichbar.
Seit etwa {time} bekommen wir 502-Fehler bei {service} in {region}.
Kunden können sich nicht mehr einloggen, die Anmeldeseite lädt nicht.
Die Fehlerquote liegt seit {minutes} Minuten bei {pct} %.
Bestellungen schlagen an der Kasse mit einer Zeitüberschreitung fehl.
{company} meldet, dass keiner ihrer {n} Nutzer Dateien hochladen kann.
Die Datenbank in {region} ist ausgefallen, das Failover hat nicht funktioniert.
Kartenzahlungen werden bei etwa {pct} % der Versuche abgelehnt.
Bitte schaut euch das sofort an, das Problem besteht weiterhin.
Die App stürzt beim Start ab, wir haben schon {n} Tickets dazu.
Die Fahrer stehen im Depot, weil die Dispositions-App nicht lädt.
## outage fr
{Service} est en panne pour tous nos utilisateurs depuis {time}.
Depuis {time} environ, nous avons des erreurs 502 sur {service} dans la région {region}.
Les clients ne peuvent plus se connecter, la page de connexion ne répond pas.
Le taux d'erreur est monté à {pct} % au cours des {minutes} dernières minutes.
Les commandes échouent au paiement avec un délai d'attente dépassé.
{company} nous signale qu'aucun de leurs {n} utilisateurs ne peut envoyer de fichiers.
La base de données principale est tombée et la bascule n'a pas eu lieu.
Les paiements par carte sont refusés dans environ {pct} % des cas.
Pouvez-vous regarder tout de suite ? Le problème est toujours là.
L'application plante au démarrage, nous avons déjà {n} tickets.
Les livreurs sont bloqués au dépôt, l'application de dispatch ne charge plus.
## outage es
{Service} no funciona para ninguno de nuestros usuarios desde las {time}.
Desde las {time} vemos errores 502 en {service} en la región {region}.
Los clientes no pueden iniciar sesión, la página de acceso no carga.
La tasa de errores subió al {pct} % en los últimos {minutes} minutos.
Los pedidos fallan en el pago con un tiempo de espera agotado.
{company} nos dice que ninguno de sus {n} usuarios puede subir archivos.
La base de datos principal se cayó y la conmutación por error no funcionó.
Los pagos con tarjeta se rechazan en aproximadamente el {pct} % de los intentos.
¿Alguien puede mirarlo ahora mismo? Sigue pasando.
La aplicación se cierra al abrirla, ya tenemos {n} tickets.
Los repartidores están parados en el almacén porque la app de reparto no carga.

## complaint en
I have been trying to reach your support for {days} days and nobody answers.
This is the third time this month that {service} has let us down.
Our team at {company} is very unhappy with how the last incident was handled.
We were charged twice for invoice {ticket} and need a refund.
If this is not fixed by {day} we will have to reconsider our contract with you.
Your app keeps logging me out every few minutes, it is really frustrating.
The report you sent us yesterday contains data from another customer.
I want to escalate ticket {ticket}; the answer we got was not acceptable.
Three of our stores could not take orders during lunch and we lost sales.
Our customers are calling us because the tracking links in your emails are broken.
We pay for the premium plan and expect a response within the hour, as agreed.
Please call me back on {phone} as soon as possible.
Honestly, the quality of the last two releases has been poor.
## complaint de
Wir versuchen seit {days} Tagen, euren Support zu erreichen, und niemand antwortet.
Das ist diesen Monat schon das dritte Mal, dass {service} nicht geht.
Wir wurden für die Rechnung {ticket} doppelt belastet und bitten um Erstattung.
Wenn das bis {day} nicht behoben ist, müssen wir den Vertrag überdenken.
Der Bericht von gestern enthält Daten eines anderen Kunden.
Ich möchte das Ticket {ticket} eskalieren, die Antwort war nicht akzeptabel.
Unsere Kunden beschweren sich, weil die Links zur Sendungsverfolgung kaputt sind.
Bitte rufen Sie mich unter {phone} zurück.
## complaint fr
Cela fait {days} jours que nous essayons de joindre votre support, sans réponse.
C'est la troisième fois ce mois-ci que {service} nous lâche.
Nous avons été débités deux fois pour la facture {ticket}, merci de nous rembourser.
Si ce n'est pas corrigé d'ici {day}, nous devrons revoir notre contrat.
Le rapport d'hier contient les données d'un autre client.
Je souhaite faire remonter le ticket {ticket}, la réponse reçue n'est pas acceptable.
Nos clients se plaignent car les liens de suivi dans vos e-mails ne fonctionnent pas.
Merci de me rappeler au {phone} dès que possible.
## complaint es
Llevamos {days} días intentando contactar con su soporte y nadie responde.
Es la tercera vez este mes que {service} nos falla.
Nos han cobrado dos veces la factura {ticket} y necesitamos un reembolso.
Si no se soluciona antes del {day}, tendremos que replantearnos el contrato.
El informe de ayer contiene datos de otro cliente.
Quiero escalar el ticket {ticket}; la respuesta que recibimos no es aceptable.
Nuestros clientes se quejan porque los enlaces de seguimiento no funcionan.
Por favor, llámeme al {phone} lo antes posible.

## maintenance en
We will perform scheduled maintenance on {service} on {day} from {time} to {time2} UTC.
During the maintenance window {service} will be unavailable for about {minutes} minutes.
No action is required on your side.
The database upgrade to version {version} is planned for {day} night.
Release {version} goes out on {day} as planned; the rollback plan is in the ticket.
This is part of our regular quarterly patching.
Expect brief reconnects during the window; no downtime expected.
The change was approved in this week's CAB under {ticket}.
We will post an update in #ops when the work is complete.
Certificates for {service} will be rotated on {day}; there is nothing to do for you.
## maintenance de
Am {day} führen wir von {time} bis {time2} Uhr geplante Wartungsarbeiten an {service} durch.
Während des Wartungsfensters ist {service} etwa {minutes} Minuten nicht verfügbar.
Es ist keine Aktion Ihrerseits erforderlich.
Das Datenbank-Upgrade auf Version {version} ist für {day} Nacht geplant.
Release {version} geht wie geplant am {day} raus.
Dies ist Teil unserer regulären Wartung.
## maintenance fr
Une maintenance planifiée de {service} aura lieu {day} de {time} à {time2}.
Pendant la fenêtre de maintenance, {service} sera indisponible environ {minutes} minutes.
Aucune action n'est requise de votre part.
La mise à jour de la base de données en version {version} est prévue {day} soir.
La version {version} sera déployée {day} comme prévu.
Cette intervention fait partie de notre maintenance trimestrielle habituelle.
## maintenance es
Realizaremos un mantenimiento programado de {service} el {day} de {time} a {time2}.
Durante la ventana de mantenimiento {service} no estará disponible unos {minutes} minutos.
No es necesaria ninguna acción por su parte.
La actualización de la base de datos a la versión {version} está prevista para el {day}.
La versión {version} se publicará el {day} según lo previsto.
Esto forma parte de nuestro mantenimiento trimestral habitual.

## chitchat en
Thanks for the lovely lunch yesterday, {name}!
Anyone up for coffee at {time}?
Happy birthday {name}! Cake is in the kitchen on the second floor.
Great job on the demo today, the client loved it.
Reminder: team drinks on {day} after work.
Did anyone watch the match last night?
The new coffee machine on the third floor works great.
Welcome to the team, {name}, glad to have you on board.
I'm off on {day}, back on Monday.
Photos from the offsite are in the shared folder.
## chitchat de
Danke für das leckere Mittagessen gestern, {name}!
Hat jemand Lust auf einen Kaffee um {time}?
Alles Gute zum Geburtstag, {name}! Kuchen steht in der Küche.
Super Demo heute, der Kunde war begeistert.
Erinnerung: Teamabend am {day} nach der Arbeit.
Ich bin am {day} nicht da, ab Montag wieder erreichbar.
## chitchat fr
Merci pour le déjeuner d'hier, {name} !
Quelqu'un pour un café à {time} ?
Joyeux anniversaire {name} ! Il y a du gâteau à la cuisine.
Bravo pour la démo d'aujourd'hui, le client a adoré.
Rappel : afterwork {day} soir.
Je suis absent {day}, de retour lundi.
## chitchat es
¡Gracias por la comida de ayer, {name}!
¿Alguien se apunta a un café a las {time}?
¡Feliz cumpleaños, {name}! Hay tarta en la cocina.
Muy buena la demo de hoy, al cliente le encantó.
Recordatorio: cena de equipo el {day} después del trabajo.
El {day} no estoy, vuelvo el lunes.

## question en
Quick question: how do I export the monthly report as CSV?
Is there a way to change the billing email for our account?
Could you tell me where to find the API key in the dashboard?
When is the next release planned?
Does {service} support single sign-on with Okta?
Who owns the on-call rotation this week?
Can we get an invoice with our VAT number on it?
How many seats are included in our current plan?
Is it possible to add {n} more users before {day}?
Where can I find the documentation for the webhooks?
## question de
Kurze Frage: Wie exportiere ich den Monatsbericht als CSV?
Kann man die Rechnungsadresse für unser Konto ändern?
Wo finde ich den API-Schlüssel im Dashboard?
Wann ist das nächste Release geplant?
Unterstützt {service} Single Sign-on mit Okta?
Wer hat diese Woche Rufbereitschaft?
## question fr
Petite question : comment exporter le rapport mensuel en CSV ?
Est-il possible de changer l'adresse de facturation de notre compte ?
Où puis-je trouver la clé API dans le tableau de bord ?
Quand est prévue la prochaine version ?
Est-ce que {service} prend en charge l'authentification unique avec Okta ?
Qui est d'astreinte cette semaine ?
## question es
Una pregunta rápida: ¿cómo exporto el informe mensual en CSV?
¿Se puede cambiar el correo de facturación de nuestra cuenta?
¿Dónde encuentro la clave de la API en el panel?
¿Cuándo está prevista la próxima versión?
¿{Service} admite inicio de sesión único con Okta?
¿Quién está de guardia esta semana?

## security en
We noticed {n} failed login attempts on admin accounts from an unknown IP range.
A phishing email pretending to be from IT was sent to {n} employees this morning.
A laptop with customer data was stolen from {name}'s car last night.
An API key for {service} was committed to a public GitHub repository.
We received a message threatening to leak internal documents unless we pay.
There was suspicious access to the customer database from a disabled account.
Please rotate the credentials for {service} immediately.
Someone is trying to brute force the VPN, {n} attempts in the last hour.
Two customers received password reset emails they did not request.
Our WAF blocked a SQL injection attempt, but one request got a 200 response.
## security de
Wir haben {n} fehlgeschlagene Anmeldeversuche auf Admin-Konten gesehen.
Eine Phishing-Mail im Namen der IT ging heute Morgen an {n} Mitarbeitende.
Ein Laptop mit Kundendaten wurde aus dem Auto von {name} gestohlen.
Ein API-Schlüssel für {service} wurde in ein öffentliches GitHub-Repository eingecheckt.
Jemand droht, interne Dokumente zu veröffentlichen, wenn wir nicht zahlen.
Bitte sofort die Zugangsdaten für {service} rotieren.
## security fr
Nous avons détecté {n} tentatives de connexion échouées sur des comptes administrateur.
Un e-mail d'hameçonnage au nom de l'informatique a été envoyé à {n} salariés ce matin.
Un ordinateur portable contenant des données clients a été volé dans la voiture de {name}.
Une clé API de {service} a été publiée dans un dépôt GitHub public.
Quelqu'un menace de divulguer des documents internes si nous ne payons pas.
Merci de changer immédiatement les identifiants de {service}.
## security es
Hemos detectado {n} intentos de inicio de sesión fallidos en cuentas de administrador.
Esta mañana se envió un correo de phishing haciéndose pasar por IT a {n} empleados.
Robaron del coche de {name} un portátil con datos de clientes.
Se subió una clave de API de {service} a un repositorio público de GitHub.
Alguien amenaza con filtrar documentos internos si no pagamos.
Por favor, cambien de inmediato las credenciales de {service}.

## followup en
Any update on this?
This is still happening for us.
Thanks, it works again now.
Same here, our users see it too.
Adding {name} from our side.
See my answer below.
Sorry for the late reply.
Thanks for the quick response.
## followup de
Gibt es hierzu schon etwas Neues?
Bei uns tritt das Problem weiterhin auf.
Danke, jetzt funktioniert es wieder.
Bei uns genauso.
Siehe meine Antwort unten.
## followup fr
Avez-vous du nouveau ?
Le problème persiste de notre côté.
Merci, cela fonctionne de nouveau.
Pareil chez nous.
Voir ma réponse ci-dessous.
## followup es
¿Hay alguna novedad?
Seguimos con el mismo problema.
Gracias, ya funciona de nuevo.
A nosotros nos pasa lo mismo.
Ver mi respuesta abajo.

## forward_note en
FYI, see below.
Forwarding this from {company}, can someone take a look?
Please handle, the customer is upset.
Not sure who owns this, can you route it?
This came in to the sales inbox this morning.
See below, looks serious.
## forward_note de
Zur Info, siehe unten.
Weitergeleitet von {company}, kann sich das jemand ansehen?
Bitte übernehmen, der Kunde ist verärgert.
## forward_note fr
Pour info, voir ci-dessous.
Transféré de la part de {company}, quelqu'un peut regarder ?
Merci de prendre en charge, le client est mécontent.
## forward_note es
Para su información, ver abajo.
Reenvío esto de {company}, ¿alguien puede revisarlo?
Por favor, encárguense, el cliente está molesto.

## ooo en
Thank you for your email. I am out of the office until {day} with limited access to email.
For urgent matters, please contact {name} at {addr2}.
I will respond to your message as soon as possible after my return.
Please note that your email will not be forwarded.
## ooo de
Vielen Dank für Ihre Nachricht. Ich bin bis {day} nicht im Büro.
In dringenden Fällen wenden Sie sich bitte an {name} ({addr2}).
Ihre Nachricht wird nicht weitergeleitet.
## ooo fr
Merci pour votre message. Je suis absent du bureau jusqu'au {day}.
Pour toute urgence, merci de contacter {name} ({addr2}).
Votre message ne sera pas transféré.
## ooo es
Gracias por su mensaje. Estoy fuera de la oficina hasta el {day}.
Para asuntos urgentes, contacte con {name} ({addr2}).
Su mensaje no será reenviado.

## newsletter en
Our {month} product update is here: faster dashboards, new integrations and more.
Join our free webinar on {day} at {time} to learn how teams cut downtime in half.
Read the postmortem of last year's biggest cloud outage on our blog.
New: two-factor authentication is now available on all plans.
Your monthly usage summary is ready: {n} requests, {pct}% cache hit rate.
Save {pct}% on the annual plan until {day}.
We have updated our privacy policy; no action is needed.
Customer story: how {company} scaled to {n} orders a day.
## newsletter de
Unser Produkt-Update für {month} ist da: schnellere Dashboards und neue Integrationen.
Melden Sie sich zu unserem kostenlosen Webinar am {day} um {time} Uhr an.
Neu: Zwei-Faktor-Authentifizierung ist jetzt in allen Tarifen verfügbar.
Sparen Sie {pct} % beim Jahrestarif bis {day}.
Wir haben unsere Datenschutzerklärung aktualisiert.
## newsletter fr
Notre mise à jour produit de {month} est arrivée : de nouvelles intégrations.
Inscrivez-vous à notre webinaire gratuit {day} à {time}.
Nouveau : l'authentification à deux facteurs est disponible sur toutes les offres.
Économisez {pct} % sur l'abonnement annuel jusqu'au {day}.
Nous avons mis à jour notre politique de confidentialité.
## newsletter es
Ya está aquí nuestra actualización de producto de {month}: nuevas integraciones.
Apúntese a nuestro seminario web gratuito el {day} a las {time}.
Novedad: la autenticación en dos pasos ya está disponible en todos los planes.
Ahorre un {pct} % en el plan anual hasta el {day}.
Hemos actualizado nuestra política de privacidad.

## subject outage en
{Service} down
URGENT: {service} not working
502 errors on {service} since {time}
Orders failing at checkout
Login problems for {company}
{Service} unreachable from {region}
App crashing on start after update
Card payments declined
Is {service} down?
Problem with {service} – all users affected
## subject outage de
{Service} nicht erreichbar
DRINGEND: {service} funktioniert nicht
Störung bei {service} seit {time} Uhr
Bestellungen schlagen fehl
Login-Probleme bei {company}
## subject outage fr
{Service} en panne
URGENT : {service} ne fonctionne plus
Erreurs 502 sur {service} depuis {time}
Problème de connexion chez {company}
## subject outage es
{Service} no funciona
URGENTE: fallo en {service}
Errores 502 en {service} desde las {time}
Problemas de acceso en {company}
## subject complaint en
Complaint about ticket {ticket}
Still no answer from support
Double charge on invoice {ticket}
Very disappointed with the service
Escalation: {company} account
Wrong data in yesterday's report
## subject complaint de
Beschwerde zu Ticket {ticket}
Immer noch keine Antwort vom Support
Doppelte Abbuchung Rechnung {ticket}
## subject complaint fr
Réclamation ticket {ticket}
Toujours pas de réponse du support
Double prélèvement facture {ticket}
## subject complaint es
Reclamación ticket {ticket}
Sin respuesta del soporte
Cobro duplicado factura {ticket}
## subject maintenance en
Scheduled maintenance: {service} on {day}
[Maintenance] Database upgrade to {version}
Release {version} planned for {day}
Planned downtime {day} {time}-{time2} UTC
Certificate rotation on {day}
## subject maintenance de
Geplante Wartung: {service} am {day}
Wartungsfenster {day} {time}-{time2} Uhr
## subject maintenance fr
Maintenance planifiée : {service} {day}
Mise à jour prévue {day} {time}-{time2}
## subject maintenance es
Mantenimiento programado: {service} el {day}
Ventana de mantenimiento {day} {time}-{time2}
## subject chitchat en
Lunch on {day}?
Coffee?
Happy birthday {name}!
Team drinks {day}
Photos from the offsite
Welcome {name}!
## subject chitchat de
Mittagessen am {day}?
Alles Gute, {name}!
Teamabend {day}
## subject chitchat fr
Déjeuner {day} ?
Joyeux anniversaire {name} !
Photos du séminaire
## subject chitchat es
¿Comida el {day}?
¡Feliz cumpleaños, {name}!
Fotos de la jornada
## subject question en
Question about CSV export
How do I change our billing email?
API key location
Next release date?
SSO with Okta
Adding {n} users
## subject question de
Frage zum CSV-Export
Rechnungsadresse ändern
Wo ist der API-Schlüssel?
## subject question fr
Question sur l'export CSV
Changer l'adresse de facturation
Où trouver la clé API ?
## subject question es
Pregunta sobre la exportación CSV
Cambiar correo de facturación
¿Dónde está la clave de la API?
## subject security en
Suspicious login attempts
Phishing email sent to staff
Stolen laptop
API key leaked on GitHub
Threat to leak documents
Security: please rotate credentials
## subject security de
Verdächtige Anmeldeversuche
Phishing-Mail an Mitarbeitende
Laptop gestohlen
## subject security fr
Tentatives de connexion suspectes
E-mail d'hameçonnage
Ordinateur portable volé
## subject security es
Intentos de acceso sospechosos
Correo de phishing a empleados
Portátil robado
## subject newsletter en
Your {month} product update
Webinar: cut downtime in half
New: two-factor authentication
Your monthly usage summary
Save {pct}% on the annual plan
Customer story: {company}
## subject newsletter de
Ihr Produkt-Update für {month}
Webinar am {day}
## subject newsletter fr
Votre mise à jour produit de {month}
Webinaire {day}
## subject newsletter es
Su actualización de producto de {month}
Seminario web el {day}

## greeting en
Hi team,
Hello,
Hi {name},
Dear support team,
Hey all,
Good morning,
## greeting de
Hallo zusammen,
Hallo {name},
Sehr geehrte Damen und Herren,
Guten Morgen,
Moin,
## greeting fr
Bonjour,
Bonjour {name},
Madame, Monsieur,
Salut l'équipe,
## greeting es
Hola,
Hola {name},
Estimado equipo:
Buenos días,
## closing en
Thanks,
Best regards,
Cheers,
Kind regards,
Thanks in advance,
## closing de
Viele Grüße
Beste Grüße
Mit freundlichen Grüßen
Danke und Gruß
## closing fr
Cordialement,
Merci d'avance,
Bien à vous,
Bonne journée,
## closing es
Saludos,
Un saludo,
Gracias,
Atentamente,
## disclaimer en
This email and any attachments are confidential and intended solely for the addressee.
If you have received it in error, please notify the sender and delete it.
Any unauthorised use, disclosure or copying is strictly prohibited.
## disclaimer de
Diese E-Mail enthält vertrauliche Informationen und ist nur für den Empfänger bestimmt.
Wenn Sie nicht der richtige Adressat sind, informieren Sie bitte sofort den Absender.
Das unerlaubte Kopieren sowie die Weitergabe dieser Mail sind nicht gestattet.
## disclaimer fr
Ce message et ses pièces jointes sont confidentiels et destinés à leur seul destinataire.
Si vous l'avez reçu par erreur, merci d'en informer l'expéditeur et de le supprimer.
## disclaimer es
Este mensaje y sus anexos son confidenciales y están dirigidos exclusivamente al destinatario.
Si lo ha recibido por error, notifíquelo al remitente y elimínelo.
"""


def _parse_pools(text: str) -> dict[tuple[str, str], list[str]]:
    pools: dict[tuple[str, str], list[str]] = {}
    current: list[str] | None = None
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("## "):
            name, lang = line[3:].rsplit(" ", 1)
            current = pools.setdefault((name, lang), [])
        elif line and current is not None:
            current.append(line)
    return pools


POOLS = _parse_pools(_POOL_TEXT)
KINDS = ("outage", "complaint", "maintenance", "chitchat", "question", "security")
KIND_WEIGHTS = (22, 15, 14, 14, 22, 13)
LANG_WEIGHTS = (64, 13, 12, 11)

_FIRST = {
    "en": "Karen James Priya Omar Chen Maya Daniel Sarah Tom Aisha Liam Emma Raj Grace Ben "
    "Chloe Marcus Hannah".split(),
    "de": "Jürgen Anja Björn Lena Jörg Katrin Lukas Sophie Matthias Grete Uwe Sabine".split(),
    "fr": "François Hélène Zoé Jérôme Camille Élodie Julien Amélie Théo Céline".split(),
    "es": "José María Iñaki Lucía Andrés Sofía Álvaro Begoña Raúl Nuria".split(),
}
_LAST = {
    "en": "Whitfield Patel Haddad Wei Okafor Brooks Carter Nguyen Osei Murphy Kowalski Reid "
    "Shah Bennett Hughes Flores".split(),
    "de": "Müller Schröder Weiß Hoffmann Becker Groß Köhler Wagner Schäfer Zimmermann".split(),
    "fr": "Lefèvre Dubois Girard Fabre Moreau Bernard Rousseau Lefebvre Gauthier Faure".split(),
    "es": "Martínez Núñez Zubizarreta Gómez Fernández Rodríguez Peña Muñoz Ibáñez Castillo".split(),
}
_COMPANIES = {
    "en": [
        ("Contoso", "contoso.com"),
        ("Fabrikam", "fabrikam.com"),
        ("Northwind Traders", "northwindtraders.com"),
        ("Globex", "globex.co.uk"),
        ("Initech", "initech.com"),
        ("Tailspin Toys", "tailspintoys.com"),
        ("Wingtip Health", "wingtiphealth.org"),
    ],
    "de": [
        ("Müller Logistik GmbH", "mueller-logistik.de"),
        ("Bäckerei Schäfer", "baeckerei-schaefer.de"),
        ("Hanse Versand AG", "hanse-versand.de"),
    ],
    "fr": [
        ("Boulangerie Lefèvre", "boulangerie-lefevre.fr"),
        ("Groupe Rivière", "groupe-riviere.fr"),
        ("Transports Méridien", "meridien-transports.fr"),
    ],
    "es": [
        ("Transportes Núñez", "transportes-nunez.es"),
        ("Clínica Sol", "clinicasol.es"),
        ("Librería Ibérica", "libreria-iberica.es"),
    ],
}
_SERVICES = {
    "en": "checkout|the login page|the public API|the mobile app|search|order tracking|"
    "the customer portal|invoicing|the dispatch app|email delivery|the booking page|SSO",
    "de": "Checkout|Login|API|App|Suche|Sendungsverfolgung|Kundenportal|Rechnungsstellung",
    "fr": "le paiement|la page de connexion|l'API publique|l'application mobile|la recherche|"
    "le portail client|la facturation",
    "es": "el checkout|la página de acceso|la API pública|la app móvil|la búsqueda|"
    "el portal de clientes|la facturación",
}
SERVICES = {lang: text.split("|") for lang, text in _SERVICES.items()}
_REGIONS = "Frankfurt|eu-west-1|us-east-1|London|Paris|Madrid|Singapore|eu-central-1".split("|")
_WEEKDAYS = {
    "en": "Mon Tue Wed Thu Fri Sat Sun".split(),
    "de": "Mo. Di. Mi. Do. Fr. Sa. So.".split(),
    "fr": "lun. mar. mer. jeu. ven. sam. dim.".split(),
    "es": "lun mar mié jue vie sáb dom".split(),
}
_WEEKDAYS_LONG = {
    "en": "Monday Tuesday Wednesday Thursday Friday Saturday Sunday".split(),
    "de": "Montag Dienstag Mittwoch Donnerstag Freitag Samstag Sonntag".split(),
    "fr": "lundi mardi mercredi jeudi vendredi samedi dimanche".split(),
    "es": "lunes martes miércoles jueves viernes sábado domingo".split(),
}
_MONTHS = {
    "en": "Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec".split(),
    "de": "Jan. Feb. März Apr. Mai Juni Juli Aug. Sept. Okt. Nov. Dez.".split(),
    "fr": "janv. févr. mars avr. mai juin juil. août sept. oct. nov. déc.".split(),
    "es": "ene feb mar abr may jun jul ago sept oct nov dic".split(),
}
_MONTHS_LONG = {
    "en": "January February March April May June July August September October November "
    "December".split(),
    "de": "Januar Februar März April Mai Juni Juli August September Oktober November "
    "Dezember".split(),
    "fr": "janvier février mars avril mai juin juillet août septembre octobre novembre "
    "décembre".split(),
    "es": "enero febrero marzo abril mayo junio julio agosto septiembre octubre noviembre "
    "diciembre".split(),
}
_START = datetime(2025, 1, 1, tzinfo=UTC)
_ZONES = [timezone(timedelta(hours=h)) for h in (0, 0, 1, 1, 2, -5, -8, 5.5)]


def _ascii(text: str) -> str:
    """An address-safe form of a name: 'Jürgen Weiß' -> 'jurgen.weiss'."""
    folded = unicodedata.normalize("NFKD", text.replace("ß", "ss"))
    return folded.encode("ascii", "ignore").decode("ascii").lower().replace(" ", ".")


def _u16(text: str) -> int:
    """Length in UTF-16 code units, as Telegram counts entity offsets."""
    return len(text.encode("utf-16-le")) // 2


def _hex(rng: random.Random, n: int) -> str:
    return f"{rng.getrandbits(4 * n):0{n}x}"


def _token(rng: random.Random, n: int) -> str:
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
    return "".join(rng.choices(alphabet, k=n))


def _uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def _count(rng: random.Random, low: int, high: int) -> int:
    """Log-uniform: most counts small, a few huge, as event and user counts are."""
    value: float = low * (high / low) ** rng.random()
    return round(value)


@dataclass(frozen=True)
class Person:
    first: str
    last: str
    address: str
    lang: str
    company: str

    @property
    def name(self) -> str:
        return f"{self.first} {self.last}"


class Writer:
    """Composes people, slots and sentences; shared by the three generators."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng

    def lang(self) -> str:
        return self.rng.choices(LANGS, LANG_WEIGHTS)[0]

    def kind(self) -> str:
        return self.rng.choices(KINDS, KIND_WEIGHTS)[0]

    def person(self, lang: str, colleague: bool = False) -> Person:
        rng = self.rng
        first, last = rng.choice(_FIRST[lang]), rng.choice(_LAST[lang])
        if colleague:
            company, domain = "Harbourline", OUR_DOMAIN
        else:
            company, domain = rng.choice(_COMPANIES[lang])
        local = rng.choice(
            (f"{_ascii(first)}.{_ascii(last)}", f"{_ascii(first)[0]}.{_ascii(last)}", _ascii(first))
        )
        return Person(first, last, f"{local}@{domain}", lang, company)

    def when(self) -> datetime:
        seconds = self.rng.randrange(365 * 24 * 3600)
        return (_START + timedelta(seconds=seconds)).astimezone(self.rng.choice(_ZONES))

    def slots(self, lang: str, company: str = "") -> dict[str, str]:
        rng = self.rng
        service = rng.choice(SERVICES[lang])
        start = rng.randrange(24 * 60)
        end = (start + rng.choice((30, 60, 90, 120, 240))) % (24 * 60)
        days = _WEEKDAYS_LONG[lang]
        other = self.person(lang, colleague=rng.random() < 0.5)
        return {
            "service": service,
            "Service": service[:1].upper() + service[1:],
            "company": company or rng.choice(_COMPANIES[lang])[0],
            "name": other.first,
            "addr2": other.address,
            "n": str(_count(rng, 2, 25_000)),
            "pct": str(rng.choice((rng.randint(2, 99), round(rng.uniform(0.5, 20), 1)))),
            "time": f"{start // 60:02d}:{start % 60:02d}",
            "time2": f"{end // 60:02d}:{end % 60:02d}",
            "minutes": str(rng.choice((5, 10, 15, 20, 30, 45, 60, 90))),
            "secs": str(rng.choice((10, 15, 30, 60))),
            "ms": str(rng.randint(900, 30_000)),
            "days": str(rng.randint(2, 14)),
            "day": rng.choice(days[:5]),
            "month": rng.choice(_MONTHS_LONG[lang]),
            "region": rng.choice(_REGIONS),
            "ticket": f"{rng.choice(('SUP', 'OPS', 'INC', 'CS', 'BILL'))}-{rng.randint(100, 9999)}",
            "version": f"{rng.randint(1, 9)}.{rng.randint(0, 30)}.{rng.randint(0, 9)}",
            "phone": f"+{rng.choice((44, 49, 33, 34, 1))} {rng.randint(100, 999)} "
            f"{rng.randint(100, 999)} {rng.randint(1000, 9999)}",
        }

    def line(self, pool: str, lang: str, slots: dict[str, str]) -> str:
        text = self.rng.choice(POOLS[pool, lang]).format_map(slots)
        return text[:1].upper() + text[1:]

    def sentences(self, pool: str, lang: str, slots: dict[str, str], k: int) -> list[str]:
        entries = POOLS[pool, lang]
        picked = self.rng.sample(entries, min(k, len(entries)))
        return [(s := e.format_map(slots))[:1].upper() + s[1:] for e in picked]

    def paragraph(self, kind: str, lang: str, slots: dict[str, str]) -> str:
        rng = self.rng
        parts = self.sentences(kind, lang, slots, rng.randint(2, 5))
        if rng.random() < 0.2:  # people drift: a question in an outage report, a thank-you
            parts.append(self.line(rng.choice(KINDS), lang, slots))
        if rng.random() < 0.25 and len(parts) > 2:  # and break lines where they like
            cut = rng.randint(1, len(parts) - 1)
            return " ".join(parts[:cut]) + "\n" + " ".join(parts[cut:])
        return " ".join(parts)

    def log_excerpt(self, slots: dict[str, str]) -> str:
        """Pasted log lines, the bulk of many real outage reports."""
        rng = self.rng
        host = f"api-{_hex(rng, 5)}"
        lines = []
        stamp = self.when().astimezone(UTC)
        for _ in range(rng.randint(5, 25)):
            stamp += timedelta(milliseconds=rng.randint(5, 4000))
            level = rng.choice(("ERROR", "ERROR", "WARN", "INFO"))
            path = rng.choice(("/v1/orders", "/v1/payments", "/login", "/v2/search", "/health"))
            status = rng.choice((500, 502, 503, 504, 200, 429))
            lines.append(
                f"{stamp:%Y-%m-%dT%H:%M:%S}.{stamp.microsecond // 1000:03d}Z {level} {host} "
                f"[req={_hex(rng, 8)}] {rng.choice(('GET', 'POST'))} {path} {status} "
                f"{rng.choice(('upstream timeout', 'connection reset', 'ok', 'pool exhausted'))} "
                f"after {rng.randint(3, 30_000)}ms"
            )
        return "\n".join(lines)


# --- email ------------------------------------------------------------------------

Entity = tuple[list[str], str]  # header lines, body

_REPLY_PREFIX = {
    ("gmail", "en"): "Re: ",
    ("outlook", "en"): "RE: ",
    ("outlook", "de"): "AW: ",
    ("outlook", "fr"): "RE : ",
    ("outlook", "es"): "RE: ",
}
_FORWARD_PREFIX = {
    ("gmail", "en"): "Fwd: ",
    ("outlook", "en"): "FW: ",
    ("outlook", "de"): "WG: ",
    ("outlook", "fr"): "TR : ",
    ("outlook", "es"): "RV: ",
}
_OUTLOOK_LABELS = {
    "en": ("From", "Sent", "To", "Cc", "Subject"),
    "de": ("Von", "Gesendet", "An", "Cc", "Betreff"),
    "fr": ("De", "Envoyé", "À", "Cc", "Objet"),
    "es": ("De", "Enviado el", "Para", "CC", "Asunto"),
}
_GMAIL_FORWARD = {
    "en": ("---------- Forwarded message ---------", "From", "Date", "Subject", "To"),
    "de": ("---------- Weitergeleitete Nachricht ---------", "Von", "Date", "Subject", "To"),
    "fr": ("---------- Message transféré ---------", "De", "Date", "Subject", "To"),
    "es": ("---------- Mensaje reenviado ---------", "De", "Date", "Subject", "To"),
}
_APPLE_FORWARD = {
    "en": ("Begin forwarded message:", "From", "Subject", "Date", "To"),
    "de": ("Anfang der weitergeleiteten Nachricht:", "Von", "Betreff", "Datum", "An"),
    "fr": ("Début du message réexpédié :", "De", "Objet", "Date", "À"),
    "es": ("Inicio del mensaje reenviado:", "De", "Asunto", "Fecha", "Para"),
}
_THUNDERBIRD_FORWARD = {
    "en": ("-------- Forwarded Message --------", "Subject", "Date", "From", "To"),
    "de": ("-------- Weitergeleitete Nachricht --------", "Betreff", "Datum", "Von", "An"),
    "fr": ("-------- Message transféré --------", "Sujet", "Date", "De", "Pour"),
    "es": ("-------- Mensaje reenviado --------", "Asunto", "Fecha", "De", "Para"),
}
_OUTLOOK_HEAD = """<html xmlns:v="urn:schemas-microsoft-com:vml" \
xmlns:o="urn:schemas-microsoft-com:office:office" \
xmlns:w="urn:schemas-microsoft-com:office:word" \
xmlns:m="http://schemas.microsoft.com/office/2004/12/omml" xmlns="http://www.w3.org/TR/REC-html40">
<head>
<meta http-equiv="Content-Type" content="text/html; charset=utf-8">
<meta name="Generator" content="Microsoft Word 15 (filtered medium)">
<style><!--
/* Font Definitions */
@font-face
\t{font-family:"Cambria Math";
\tpanose-1:2 4 5 3 5 4 6 3 2 4;}
@font-face
\t{font-family:Calibri;
\tpanose-1:2 15 5 2 2 2 4 3 2 4;}
/* Style Definitions */
p.MsoNormal, li.MsoNormal, div.MsoNormal
\t{margin:0cm;
\tfont-size:11.0pt;
\tfont-family:"Calibri",sans-serif;
\tmso-fareast-language:EN-US;}
a:link, span.MsoHyperlink
\t{mso-style-priority:99;
\tcolor:#0563C1;
\ttext-decoration:underline;}
span.EmailStyle17
\t{mso-style-type:personal-compose;
\tfont-family:"Calibri",sans-serif;
\tcolor:windowtext;}
.MsoChpDefault
\t{mso-style-type:export-only;
\tfont-family:"Calibri",sans-serif;
\tmso-fareast-language:EN-US;}
@page WordSection1
\t{size:612.0pt 792.0pt;
\tmargin:72.0pt 72.0pt 72.0pt 72.0pt;}
div.WordSection1
\t{page:WordSection1;}
--></style><!--[if gte mso 9]><xml>
<o:shapedefaults v:ext="edit" spidmax="1026" />
</xml><![endif]--><!--[if gte mso 9]><xml>
<o:shapelayout v:ext="edit">
<o:idmap v:ext="edit" data="1" />
</o:shapelayout></xml><![endif]-->
</head>
"""
_BINARIES = (
    ("screenshot-{n}.png", "image/png", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"),
    ("IMG_{n}.jpg", "image/jpeg", b"\xff\xd8\xff\xe0\x00\x10JFIF\x00"),
    ("invoice-{n}.pdf", "application/pdf", b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n"),
    ("export-{n}.xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", b"PK"),
    ("Rückerstattung-{n}.pdf", "application/pdf", b"%PDF-1.4\n"),
)


@dataclass
class Letter:
    """One message as a person wrote it, before MIME: what the renderers turn into mail."""

    sender: Person
    to: list[str]
    when: datetime
    subject: str
    lang: str
    style: str  # gmail | outlook | apple | thunderbird: how replies and HTML are written
    paras: list[str]
    signature: str = ""
    reply_to: Letter | None = None  # quoted below: this is a reply
    forward: Letter | None = None  # forwarded inline below: this is a forward
    message_id: str = ""
    cc: list[str] = field(default_factory=list)
    received: list[str] = field(default_factory=list)  # transport headers, drawn once


def _display(person: Person) -> str:
    return f"{person.name} <{person.address}>"


def _gmail_date(when: datetime, lang: str) -> str:
    day, month = _WEEKDAYS[lang][when.weekday()], _MONTHS[lang][when.month - 1]
    clock = f"{when:%H:%M}"
    if lang == "de":
        return f"{day}, {when.day}. {month} {when.year} um {clock} Uhr"
    if lang == "fr":
        return f"{day} {when.day} {month} {when.year} à {clock}"
    if lang == "es":
        return f"{day}, {when.day} {month} {when.year} a las {clock}"
    return f"{day}, {when.day} {month} {when.year} at {clock}"


def _outlook_date(when: datetime, lang: str) -> str:
    day, month = _WEEKDAYS_LONG[lang][when.weekday()], _MONTHS_LONG[lang][when.month - 1]
    if lang == "en":
        hour = when.hour % 12 or 12
        return f"{day}, {month} {when.day}, {when.year} {hour}:{when:%M} {when:%p}"
    if lang == "de":
        return f"{day}, {when.day}. {month} {when.year} {when:%H:%M}"
    if lang == "fr":
        return f"{day} {when.day} {month} {when.year} {when:%H:%M}"
    return f"{day}, {when.day} de {month} de {when.year} {when:%H:%M}"


def _attribution(letter: Letter, lang: str, style: str) -> str:
    """The "On ... wrote:" line above a quote, as each client writes it in each language."""
    who, when = letter.sender, letter.when
    if style == "thunderbird":
        short = f"{when:%d.%m.%y}"
        return {
            "en": f"On {when.month}/{when.day}/{when:%y} {when:%H:%M}, {who.name} wrote:",
            "de": f"Am {short} um {when:%H:%M} schrieb {who.name}:",
            "fr": f"Le {when:%d/%m/%Y} à {when:%H:%M}, {who.name} a écrit :",
            "es": f"El {when:%d/%m/%y} a las {when:%H:%M}, {who.name} escribió:",
        }[lang]
    if style == "apple":
        month = _MONTHS_LONG[lang][when.month - 1]
        return {
            "en": f"On {when.day} {month} {when.year}, at {when:%H:%M}, {_display(who)} wrote:",
            "de": f"Am {when:%d.%m.%Y} um {when:%H:%M} schrieb {_display(who)}:",
            "fr": f"Le {when.day} {month} {when.year} à {when:%H:%M}, {_display(who)} a écrit :",
            "es": f"El {when.day} {month} {when.year}, a las {when:%H:%M}, "
            f"{_display(who)} escribió:",
        }[lang]
    date = _gmail_date(when, lang)
    return {
        "en": f"On {date}, {_display(who)} wrote:",
        "de": f"Am {date} schrieb {_display(who)}:",
        "fr": f"Le {date}, {_display(who)} a écrit :",
        "es": f"El {date}, {who.name} (<{who.address}>) escribió:",
    }[lang]


def _header_block(letter: Letter, lang: str, style: str) -> list[str]:
    """The quoted header lines of a forwarded or Outlook-replied message, marker first."""
    who = letter.sender
    to = ", ".join(letter.to)
    if style == "outlook":
        frm, sent, to_label, cc_label, subj = _OUTLOOK_LABELS[lang]
        sep = " : " if lang == "fr" else ": "
        lines = [f"{frm}{sep}{_display(who)}", f"{sent}{sep}{_outlook_date(letter.when, lang)}"]
        lines.append(f"{to_label}{sep}{to}")
        if letter.cc:
            lines.append(f"{cc_label}{sep}{', '.join(letter.cc)}")
        lines.append(f"{subj}{sep}{letter.subject}")
        return lines
    if style == "apple":
        marker, frm, subj, date, to_label = _APPLE_FORWARD[lang]
        stamp = f"{letter.when.day} {_MONTHS_LONG[lang][letter.when.month - 1]} {letter.when.year}"
        return [
            marker,
            "",
            f"{frm}: {_display(who)}",
            f"{subj}: {letter.subject}",
            f"{date}: {stamp} {letter.when:%H:%M:%S} {letter.when:%Z}",
            f"{to_label}: {to}",
        ]
    if style == "thunderbird":
        marker, subj, date, frm, to_label = _THUNDERBIRD_FORWARD[lang]
        return [
            marker,
            f"{subj}: \t{letter.subject}",
            f"{date}: \t{format_datetime(letter.when)}",
            f"{frm}: \t{_display(who)}",
            f"{to_label}: \t{to}",
        ]
    marker, frm, date, subj, to_label = _GMAIL_FORWARD[lang]
    return [
        marker,
        f"{frm}: {_display(who)}",
        f"{date}: {_gmail_date(letter.when, lang)}",
        f"{subj}: {letter.subject}",
        f"{to_label}: {', '.join(f'<{address}>' for address in letter.to)}",
    ]


def _quote(text: str) -> str:
    return "\n".join(
        (">" + line if line.startswith(">") else "> " + line) if line else ">"
        for line in text.split("\n")
    )


def plain_text(letter: Letter) -> str:
    out = "\n\n".join(letter.paras)
    if letter.signature:
        out += (
            "\n\n-- \n" + letter.signature
            if letter.style != "outlook"
            else "\n\n" + (letter.signature)
        )
    if letter.forward is not None:
        block = _header_block(letter.forward, letter.lang, letter.style)
        if letter.style == "outlook":
            block = ["_" * 32, *block]
        out += "\n\n" + "\n".join(block) + "\n\n" + plain_text(letter.forward)
    elif letter.reply_to is not None:
        if letter.style == "outlook":
            block = ["_" * 32, *_header_block(letter.reply_to, letter.lang, "outlook")]
            out += "\n\n" + "\n".join(block) + "\n\n" + plain_text(letter.reply_to)
        else:
            attribution = _attribution(letter.reply_to, letter.lang, letter.style)
            out += "\n\n" + attribution + "\n" + _quote(plain_text(letter.reply_to))
    return out + "\n"


def _html_paras(paras: Sequence[str], style: str) -> str:
    out: list[str] = []
    for para in paras:
        lines = [html.escape(line) for line in para.split("\n")]
        if style == "outlook":
            out.extend(f'<p class="MsoNormal">{line}<o:p></o:p></p>' for line in lines)
            out.append('<p class="MsoNormal"><o:p>&nbsp;</o:p></p>')
        elif style == "thunderbird":
            out.append("<p>" + "<br>\n".join(lines) + "</p>")
        else:
            out.append("<div>" + "<br>".join(lines) + "</div><div><br></div>")
    return "\n".join(out)


def html_fragment(letter: Letter) -> str:
    """The HTML body inside <body>, nesting quoted and forwarded messages as clients do."""
    style = letter.style
    out = _html_paras(letter.paras, style)
    if letter.signature:
        sig = "<br>".join(html.escape(line) for line in letter.signature.split("\n"))
        if style == "gmail":
            out += f'\n<div><br></div>-- <br><div dir="ltr" class="gmail_signature">{sig}</div>'
        else:
            out += f'\n<div style="color:#555555;font-size:10pt">{sig}</div>'
    inner = letter.forward or letter.reply_to
    if inner is None:
        return out
    nested = html_fragment(inner)
    if style == "outlook":
        labels = _header_block(inner, letter.lang, "outlook")
        cells = "<br>\n".join(
            f"<b>{html.escape(k)}:</b>{html.escape(v)}"
            for k, _, v in (x.partition(":") for x in labels)
        )
        return (
            f'{out}\n<div style="border:none;border-top:solid #E1E1E1 1.0pt;'
            'padding:3.0pt 0cm 0cm 0cm">'
            f'\n<p class="MsoNormal">{cells}</p>\n</div>\n'
            f'<p class="MsoNormal"><o:p>&nbsp;</o:p></p>\n{nested}'
        )
    if letter.forward is not None:
        block = _header_block(inner, letter.lang, style)
        head = "<br>\n".join(html.escape(line) for line in block)
        if style == "thunderbird":
            return f'{out}\n<div class="moz-forward-container"><br><br>{head}<br><br>{nested}</div>'
        if style == "apple":
            return (
                f'{out}\n<div><br><blockquote type="cite"><div>{head}</div>'
                f'<br class="Apple-interchange-newline"><div>{nested}</div></blockquote></div>'
            )
        return (
            f'{out}\n<br><div class="gmail_quote"><div dir="ltr" class="gmail_attr">{head}<br>'
            f"</div><br><br>{nested}</div>"
        )
    attribution = html.escape(_attribution(inner, letter.lang, style))
    if style == "thunderbird":
        return (
            f'{out}\n<div class="moz-cite-prefix">{attribution}<br></div>\n'
            f'<blockquote type="cite" cite="mid:{html.escape(inner.message_id)}">{nested}'
            "</blockquote>"
        )
    if style == "apple":
        return (
            f'{out}\n<div><br><blockquote type="cite"><div>{attribution}</div>'
            f'<br class="Apple-interchange-newline"><div>{nested}</div></blockquote></div>'
        )
    return (
        f'{out}\n<br><div class="gmail_quote"><div dir="ltr" class="gmail_attr">{attribution}'
        '<br></div><blockquote class="gmail_quote" style="margin:0px 0px 0px 0.8ex;'
        f'border-left:1px solid rgb(204,204,204);padding-left:1ex">{nested}</blockquote></div>'
    )


def html_document(letter: Letter) -> str:
    fragment = html_fragment(letter)
    if letter.style == "outlook":
        return (
            f'{_OUTLOOK_HEAD}<body lang="EN-US" link="#0563C1" vlink="#954F72" '
            f'style="word-wrap:break-word">\n<div class="WordSection1">\n{fragment}\n'
            "</div>\n</body>\n</html>\n"
        )
    if letter.style == "apple":
        return (
            '<html><head><meta http-equiv="content-type" content="text/html; charset=utf-8">'
            '</head><body style="overflow-wrap: break-word; -webkit-nbsp-mode: space; '
            f'line-break: after-white-space;">{fragment}</body></html>\n'
        )
    if letter.style == "thunderbird":
        return (
            '<!DOCTYPE html>\n<html>\n  <head>\n    <meta http-equiv="Content-Type" '
            'content="text/html; charset=UTF-8">\n  </head>\n  <body>\n'
            f"{fragment}\n  </body>\n</html>\n"
        )
    return f'<div dir="ltr">{fragment}</div>\n'


class EmailWriter:
    """Builds raw RFC 5322 messages of many shapes; see `SHAPES`."""

    SHAPES = (
        ("plain", 20),
        ("alternative", 22),
        ("html-only", 8),
        ("reply", 16),
        ("inline forward", 10),
        ("rfc822 forward", 6),
        ("auto-reply", 9),
        ("bulk", 9),
    )

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.w = Writer(rng)
        self.features: Counter[str] = Counter()
        self.attached = False

    # -- encodings ------------------------------------------------------------------

    def encoded_words(self, text: str) -> str:
        """RFC 2047 encoded words, folded, as mail clients write non-ASCII headers."""
        rng = self.rng
        b_encoding = rng.random() < 0.5
        charset = rng.choice(("utf-8", "UTF-8"))
        words: list[str] = []
        chunk = ""
        for char in text:
            if len((chunk + char).encode("utf-8")) > (39 if b_encoding else 20):
                words.append(chunk)
                chunk = ""
            chunk += char
        words.append(chunk)
        out = []
        for word in words:
            data = word.encode("utf-8")
            if b_encoding:
                out.append(f"=?{charset}?B?{base64.b64encode(data).decode('ascii')}?=")
            else:
                q = "".join(
                    chr(b) if chr(b).isalnum() and b < 128 else "_" if b == 32 else f"={b:02X}"
                    for b in data
                )
                out.append(f"=?{charset}?Q?{q}?=")
        return "\n ".join(out)

    def header_text(self, text: str) -> str:
        if not text.isascii():
            return self.encoded_words(text)
        if len(text) > 66 and " " in text[40:]:  # folded at a space, as long subjects are
            cut = text.index(" ", 40)
            return text[:cut] + "\n" + text[cut:]
        return text

    def address(self, person: Person) -> str:
        rng = self.rng
        if not person.name.isascii():
            return f"{self.encoded_words(person.name)} <{person.address}>"
        roll = rng.random()
        if roll < 0.15:
            return f'"{person.last}, {person.first}" <{person.address}>'
        if roll < 0.2:
            return person.address
        return f"{person.name} <{person.address}>"

    def text_entity(self, subtype: str, text: str) -> Entity:
        """A text part with the charset and transfer encoding clients pick for such text."""
        rng = self.rng
        charset = "utf-8"
        if text.isascii():
            cte = "7bit" if rng.random() < 0.7 else "quoted-printable"
            charset = rng.choice(("utf-8", "UTF-8", "us-ascii"))
        else:
            cte = rng.choices(("quoted-printable", "base64", "8bit"), (55, 20, 25))[0]
            if rng.random() < 0.15:
                try:
                    text.encode("iso-8859-1")
                    charset = rng.choice(("iso-8859-1", "windows-1252"))
                    cte = "quoted-printable" if cte == "8bit" else cte
                except UnicodeEncodeError:
                    pass
        codec = "cp1252" if charset == "windows-1252" else charset.lower()
        data = text.encode(codec)
        if cte == "quoted-printable":
            body = quopri.encodestring(data).decode("ascii")
        elif cte == "base64":
            body = base64.encodebytes(data).decode("ascii")
        else:
            body = text
        headers = [f'Content-Type: text/{subtype}; charset="{charset}"']
        headers.append(f"Content-Transfer-Encoding: {cte}")
        return headers, body

    def boundary(self, style: str) -> str:
        rng = self.rng
        if style == "outlook":
            return f"_000_{_token(rng, 36)}_"
        if style == "apple":
            return f"Apple-Mail={_uuid(rng).upper()}"
        if style == "thunderbird":
            return f"------------{_token(rng, 24)}"
        return f"000000000000{_hex(rng, 16)}"

    def multipart(self, subtype: str, parts: Sequence[Entity], style: str) -> Entity:
        boundary = self.boundary(style)
        body = "This is a multi-part message in MIME format.\n" if style != "gmail" else ""
        for headers, part_body in parts:
            body += f"--{boundary}\n" + "\n".join(headers) + "\n\n" + part_body + "\n"
        body += f"--{boundary}--\n"
        return [f'Content-Type: multipart/{subtype}; boundary="{boundary}"'], body

    def attachment(self, budget: int) -> tuple[Entity, int]:
        """A small binary attachment (base64) that fits `budget` encoded bytes."""
        rng = self.rng
        pattern, content_type, magic = rng.choice(_BINARIES)
        name = pattern.format(n=rng.randint(1000, 99999))
        size = max(len(magic) + 64, min(rng.randint(300, 6000), budget * 3 // 4 - 300))
        data = magic + rng.randbytes(size - len(magic))
        if name.isascii():
            disposition = f'attachment; filename="{name}"'
        else:  # RFC 2231, as Thunderbird and Apple Mail write a non-ASCII file name
            quoted = "".join(
                chr(b) if (chr(b).isalnum() and b < 128) or chr(b) in ".-_" else f"%{b:02X}"
                for b in name.encode("utf-8")
            )
            disposition = f"attachment;\n filename*=utf-8''{quoted}"
        headers = [
            f'Content-Type: {content_type}; name="{_ascii(name)}"',
            f"Content-Disposition: {disposition}",
            "Content-Transfer-Encoding: base64",
        ]
        if rng.random() < 0.5:
            attachment_id = f"f_{_token(rng, 9).lower()}"
            headers += [f"Content-ID: <{attachment_id}>", f"X-Attachment-Id: {attachment_id}"]
        body = base64.encodebytes(data).decode("ascii")
        self.attached = True
        return (headers, body), len(body)

    # -- headers ------------------------------------------------------------------

    def message_id(self, style: str, domain: str) -> str:
        rng = self.rng
        if style == "gmail":
            return f"<CA+{_token(rng, 40)}@mail.gmail.com>"
        if style == "outlook":
            host = f"{rng.choice(('AM0PR', 'DB9PR', 'PAXPR', 'VI1PR'))}{rng.randint(10, 99)}MB"
            local = f"{host}{rng.randint(1000, 9999)}{_token(rng, 16).upper()}"
            return f"<{local}@{host}.prod.outlook.com>"
        if style == "apple":
            return f"<{_uuid(rng).upper()}@{domain}>"
        return f"<{_hex(rng, 12)}.{rng.randint(1, 99999)}@{domain}>"

    def transport(self, sender: Person, when: datetime) -> list[str]:
        """Received, DKIM and authentication headers: what every delivered mail carries."""
        rng = self.rng
        domain = sender.address.rpartition("@")[2]
        lines: list[str] = []
        stamp = when
        for hop in range(rng.randint(1, 4)):
            stamp += timedelta(seconds=rng.randint(0, 3))
            ip = ".".join(str(rng.randint(1, 254)) for _ in range(4))
            lines.insert(
                0,
                f"Received: from mail-{_token(rng, 6).lower()}.{domain} ([{ip}])\n"
                f"\tby mx{hop + 1}.{OUR_DOMAIN} (Postfix) with ESMTPS id {_token(rng, 11)}\n"
                f"\tfor <incidents@{OUR_DOMAIN}>; {format_datetime(stamp)}",
            )
        if rng.random() < 0.8:
            signature = base64.b64encode(rng.randbytes(256)).decode("ascii")
            folded = "\n\t ".join(signature[i : i + 70] for i in range(0, len(signature), 70))
            lines.append(
                f"DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed; d={domain}; s=s{hop};\n"
                "\th=from:to:subject:date:message-id:mime-version;\n"
                f"\tbh={base64.b64encode(rng.randbytes(32)).decode('ascii')};\n\tb={folded}"
            )
            lines.append(
                f"Authentication-Results: mx1.{OUR_DOMAIN};\n\tdkim=pass header.d={domain};\n"
                f"\tspf=pass smtp.mailfrom={sender.address};\n\tdmarc=pass header.from={domain}"
            )
        lines.append(f"Return-Path: <{sender.address}>")
        return lines

    def letter_headers(self, letter: Letter, transport: bool) -> list[str]:
        rng = self.rng
        lines: list[str] = []
        if transport:
            # Drawn once per letter: growing a letter to its size rebuilds it many times.
            letter.received = letter.received or self.transport(letter.sender, letter.when)
            lines = list(letter.received)
        lines += [
            f"From: {self.address(letter.sender)}",
            f"To: {', '.join(letter.to)}",
        ]
        if letter.cc:
            lines.append(f"Cc: {', '.join(letter.cc)}")
        lines += [
            f"Subject: {self.header_text(letter.subject)}",
            f"Date: {format_datetime(letter.when)}",
            f"Message-ID: {letter.message_id}",
        ]
        chain: list[str] = []
        parent = letter.reply_to
        while parent is not None:
            chain.insert(0, parent.message_id)
            parent = parent.reply_to
        if chain:
            lines.append(f"In-Reply-To: {chain[-1]}")
            lines.append("References: " + "\n ".join(chain))
        if letter.style == "outlook":
            lines.append(f"Thread-Topic: {self.header_text(letter.subject)}")
            lines.append(f"Thread-Index: {base64.b64encode(rng.randbytes(22)).decode('ascii')}")
            region = {"en": "US", "de": "DE", "fr": "FR", "es": "ES"}[letter.lang]
            lines.append(f"Content-Language: {letter.lang}-{region}")
            lines.append("X-MS-Has-Attach: ")
            lines.append("X-MS-TNEF-Correlator: ")
        elif letter.style == "apple":
            lines.append(
                rng.choice(
                    ("X-Mailer: Apple Mail (2.3774.500.171.1.1)", "X-Mailer: iPhone Mail (21E236)")
                )
            )
        elif letter.style == "thunderbird":
            lines.append(
                "User-Agent: Mozilla Thunderbird"
                if rng.random() < 0.5
                else "User-Agent: Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:128.0) "
                "Gecko/20100101 Thunderbird/128.3"
            )
        return lines

    # -- letters ------------------------------------------------------------------

    def signature(self, person: Person) -> str:
        rng = self.rng
        role = rng.choice(("Operations Manager", "Support Lead", "CTO", "Account Manager", "SRE"))
        lines = [person.name, f"{role} | {person.company}"]
        if rng.random() < 0.6:
            lines.append(
                f"Tel. +{rng.randint(1, 49)} {rng.randint(100, 999)} {rng.randint(1000, 9999)}"
            )
        if rng.random() < 0.3:
            lines.append("")
            lines.extend(POOLS["disclaimer", person.lang])
        return "\n".join(lines)

    def letter(
        self,
        kind: str,
        lang: str,
        *,
        sender: Person | None = None,
        to: list[str] | None = None,
        style: str | None = None,
        subject: str | None = None,
        when: datetime | None = None,
        paragraphs: int | None = None,
    ) -> Letter:
        rng, w = self.rng, self.w
        colleague = kind in ("chitchat", "maintenance") or rng.random() < 0.35
        sender = sender or w.person(lang, colleague=colleague)
        slots = w.slots(lang, sender.company if not colleague else "")
        style = (
            style or rng.choices(("gmail", "outlook", "apple", "thunderbird"), (40, 35, 15, 10))[0]
        )
        paras = []
        if rng.random() < 0.85:
            paras.append(w.line("greeting", lang, slots))
        for _ in range(paragraphs if paragraphs is not None else rng.randint(1, 3)):
            paras.append(w.paragraph(kind, lang, slots))
        if kind == "outage" and rng.random() < 0.15:
            paras.append(w.log_excerpt(slots))
        closing = w.line("closing", lang, slots)
        paras.append(f"{closing}\n{sender.first}")
        if to is None:
            box = rng.choice(("incidents", "support", "ops", "help"))
            to = [f"{box}@{OUR_DOMAIN}"]
            if rng.random() < 0.3:
                to.append(w.person(lang, colleague=True).address)
        cc = [w.person(lang, colleague=True).address] if rng.random() < 0.2 else []
        domain = sender.address.rpartition("@")[2]
        return Letter(
            sender=sender,
            to=to,
            cc=cc,
            when=when or w.when(),
            subject=subject if subject is not None else w.line(f"subject {kind}", lang, slots),
            lang=lang,
            style=style,
            paras=paras,
            signature=self.signature(sender) if rng.random() < 0.5 else "",
            message_id=self.message_id(style, domain),
        )

    def grow(self, letter: Letter, kind: str) -> None:
        """One more paragraph of what the letter is about (before the closing)."""
        slots = self.w.slots(letter.lang, letter.sender.company)
        if kind == "outage" and self.rng.random() < 0.3:
            extra = self.w.log_excerpt(slots)
        else:
            extra = self.w.paragraph(kind, letter.lang, slots)
        letter.paras.insert(len(letter.paras) - 1, extra)

    def body(self, letter: Letter, mode: str) -> Entity:
        if mode == "plain":
            return self.text_entity("plain", plain_text(letter))
        if mode == "html":
            return self.text_entity("html", html_document(letter))
        plain = self.text_entity("plain", plain_text(letter))
        rich = self.text_entity("html", html_document(letter))
        alternative = self.multipart("alternative", [plain, rich], letter.style)
        if letter.style == "outlook" and self.rng.random() < 0.3:  # the signature logo
            logo_id = f"image001.png@01DB{_hex(self.rng, 4).upper()}.{_hex(self.rng, 8).upper()}"
            logo = (
                [
                    'Content-Type: image/png; name="image001.png"',
                    "Content-Description: image001.png",
                    'Content-Disposition: inline; filename="image001.png"',
                    f"Content-ID: <{logo_id}>",
                    "Content-Transfer-Encoding: base64",
                ],
                base64.encodebytes(b"\x89PNG\r\n\x1a\n" + self.rng.randbytes(900)).decode(),
            )
            return self.multipart("related", [alternative, logo], "outlook")
        return alternative

    def render(self, letter: Letter, mode: str, attachments: Sequence[Entity] = ()) -> str:
        entity = self.body(letter, mode)
        if attachments:
            entity = self.multipart("mixed", [entity, *attachments], letter.style)
        headers = self.letter_headers(letter, transport=True)
        return "\n".join([*headers, "MIME-Version: 1.0", *entity[0]]) + "\n\n" + entity[1]

    def sized(self, build: Callable[[], str], grow: Callable[[], bool], target: int) -> str:
        """Grow the letter until its mail reaches `target` bytes (1-20 KB overall)."""
        text = build()
        for _ in range(40):
            if len(text) >= target or not grow():
                break
            bigger = build()
            if len(bigger.encode("utf-8")) > MAX_EMAIL - 600:  # room for CRLF line ends
                break
            text = bigger
        return text

    def target(self) -> int:
        rng = self.rng
        band = rng.choices(((1_100, 4_000), (4_000, 10_000), (10_000, 19_000)), (50, 32, 18))[0]
        return rng.randint(*band)

    # -- shapes -------------------------------------------------------------------

    def make(self) -> tuple[str, str, bytes]:
        """(shape, language, raw bytes with CRLF line ends, as IMAP hands them over)."""
        rng = self.rng
        shape = rng.choices([s for s, _ in self.SHAPES], [w for _, w in self.SHAPES])[0]
        lang = self.w.lang()
        make = getattr(self, "_" + shape.replace(" ", "_").replace("-", "_"))
        # Redraw the rare mail that lands outside 1-20 KB (a terse auto-reply, a long
        # disclaimer on top of an attachment) rather than bend it: sizes stay honest.
        for _ in range(20):
            self.attached = False
            text = make(lang)
            raw = text.replace("\n", "\r\n").encode("utf-8")
            if MIN_EMAIL <= len(raw) <= MAX_EMAIL:
                break
        if "\nSubject: =?" in text:
            self.features["RFC 2047 subject"] += 1
        if self.attached:
            self.features["binary attachment"] += 1
        return shape, lang, raw

    def _simple(self, lang: str, mode: str) -> str:
        rng, w = self.rng, self.w
        kind = w.kind()
        letter = self.letter(kind, lang, paragraphs=1)
        target = self.target()
        attachments: list[Entity] = []
        if rng.random() < 0.15 and target > 3_000:
            part, size = self.attachment(target - 1_500)
            attachments.append(part)
            target -= size
        target = max(target, MIN_EMAIL)

        def grow() -> bool:
            self.grow(letter, kind)
            return True

        return self.sized(lambda: self.render(letter, mode, attachments), grow, target)

    def _plain(self, lang: str) -> str:
        return self._simple(lang, "plain")

    def _alternative(self, lang: str) -> str:
        return self._simple(lang, "alternative")

    def _html_only(self, lang: str) -> str:
        return self._simple(lang, "html")

    def _reply(self, lang: str) -> str:
        rng, w = self.rng, self.w
        kind = w.kind()
        style = rng.choices(("gmail", "outlook", "apple", "thunderbird"), (45, 30, 15, 10))[0]
        customer = w.person(lang)
        us = w.person(lang, colleague=True)
        original = self.letter(kind, lang, sender=customer, paragraphs=rng.randint(1, 2))
        chain = original
        depth = rng.choices((1, 2, 3), (60, 30, 10))[0]
        for step in range(1, depth + 1):
            writer = us if step % 2 else customer
            prefix = _REPLY_PREFIX.get((style, lang), "Re: ")
            reply = self.letter(
                "followup",
                lang,
                sender=writer,
                style=style,
                to=[chain.sender.address],
                subject=prefix + original.subject,
                when=chain.when + timedelta(minutes=rng.randint(3, 600)),
                paragraphs=1,
            )
            if rng.random() < 0.5:  # the reply says something about the matter, too
                self.grow(reply, kind)
            reply.reply_to = chain
            chain = reply
        mode = rng.choices(("plain", "alternative", "html"), (35, 55, 10))[0]
        target = self.target()

        def grow() -> bool:
            self.grow(original, kind)
            return True

        return self.sized(lambda: self.render(chain, mode), grow, max(target, MIN_EMAIL))

    def _inline_forward(self, lang: str) -> str:
        rng, w = self.rng, self.w
        kind = w.kind()
        style = rng.choices(("gmail", "outlook", "apple", "thunderbird"), (40, 40, 12, 8))[0]
        original = self.letter(kind, lang, paragraphs=rng.randint(1, 2))
        forwarder = w.person(lang, colleague=True)
        prefix = _FORWARD_PREFIX.get((style, lang), "Fwd: ")
        note = self.letter(
            "forward_note",
            lang,
            sender=forwarder,
            style=style,
            subject=prefix + original.subject,
            when=original.when + timedelta(minutes=rng.randint(2, 2000)),
            paragraphs=1 if rng.random() < 0.7 else 0,
        )
        note.paras = note.paras[-2:] if rng.random() < 0.4 else note.paras
        note.forward = original
        mode = rng.choices(("plain", "alternative"), (40, 60))[0]

        def grow() -> bool:
            self.grow(original, kind)
            return True

        return self.sized(lambda: self.render(note, mode), grow, self.target())

    def _rfc822_forward(self, lang: str) -> str:
        rng, w = self.rng, self.w
        kind = w.kind()
        original = self.letter(kind, lang, paragraphs=1)
        inner_mode = rng.choices(("plain", "alternative", "html"), (35, 55, 10))[0]
        forwarder = w.person(lang, colleague=True)
        style = rng.choice(("outlook", "thunderbird", "apple"))
        prefix = _FORWARD_PREFIX.get((style, lang), "Fwd: ")
        note = self.letter(
            "forward_note",
            lang,
            sender=forwarder,
            style=style,
            subject=prefix + original.subject,
            when=original.when + timedelta(minutes=rng.randint(2, 2000)),
            paragraphs=1,
        )
        note_mode = rng.choice(("plain", "alternative"))

        def build() -> str:
            inner_entity = self.body(original, inner_mode)
            inner_headers = self.letter_headers(original, transport=rng.random() < 0.5)
            inner = (
                "\n".join([*inner_headers, "MIME-Version: 1.0", *inner_entity[0]])
                + "\n\n"
                + inner_entity[1]
            )
            name = _ascii(original.subject).replace(".", " ")[:60] or "message"
            part = (
                [
                    f'Content-Type: message/rfc822; name="{name}.eml"',
                    f'Content-Disposition: attachment; filename="{name}.eml"',
                ],
                inner,
            )
            return self.render(note, note_mode, [part])

        def grow() -> bool:
            self.grow(original, kind)
            return True

        return self.sized(build, grow, self.target())

    def _auto_reply(self, lang: str) -> str:
        rng, w = self.rng, self.w
        sender = w.person(lang, colleague=rng.random() < 0.3)
        slots = w.slots(lang, sender.company)
        original_subject = w.line(f"subject {w.kind()}", lang, slots)
        prefix = {
            "en": rng.choice(("Automatic reply: ", "Out of Office: ", "Auto-Reply: ")),
            "de": rng.choice(("Abwesenheitsnotiz: ", "Automatische Antwort: ")),
            "fr": rng.choice(("Réponse automatique : ", "Absence du bureau : ")),
            "es": rng.choice(("Respuesta automática: ", "Fuera de la oficina: ")),
        }[lang]
        letter = self.letter("ooo", lang, sender=sender, subject=prefix + original_subject)
        letter.paras = [w.line("greeting", lang, slots), *w.sentences("ooo", lang, slots, 3)]
        letter.paras.append(w.line("closing", lang, slots) + "\n" + sender.name)
        mode = rng.choices(("plain", "alternative"), (50, 50))[0]
        text = self.render(letter, mode)
        headers = ["Auto-Submitted: auto-replied"]
        if letter.style == "outlook":
            headers.append("X-Auto-Response-Suppress: All")
        if rng.random() < 0.3:
            headers.append("X-Autoreply: yes")
        if rng.random() < 0.2:
            headers.append("Precedence: auto_reply")
        return "\n".join(headers) + "\n" + text

    def _bulk(self, lang: str) -> str:
        rng, w = self.rng, self.w
        vendor, domain = rng.choice(
            (
                ("Cloudwise", "cloudwise.io"),
                ("Statusly", "statusly.com"),
                ("PayFlow", "payflow.com"),
                ("Logbook", "logbook.dev"),
            )
        )
        slots = w.slots(lang)
        token = _token(rng, 48)
        subject = w.line("subject newsletter", lang, slots)
        sections: list[tuple[str, str, str]] = []
        target = self.target()
        size = 3_000
        while size < target * 0.7 or not sections:
            heading = w.line("newsletter", lang, slots)
            body = " ".join(w.sentences("newsletter", lang, slots, rng.randint(2, 4)))
            link = f"https://click.{domain}/ls/click?upn={_token(rng, 120)}"
            sections.append((heading, body, link))
            size += 900 + len(body)
        text_lines = []
        rows = []
        for heading, body, link in sections:
            text_lines += [heading.upper(), "", body, f"Read more: {link}", ""]
            rows.append(
                '<tr><td style="padding:0 32px 24px;font-family:Helvetica,Arial,sans-serif;'
                'font-size:16px;line-height:24px;color:#333333;">'
                f'<h2 style="margin:0 0 12px;font-size:20px;color:#111111;">{html.escape(heading)}'
                f'</h2><p style="margin:0 0 16px;">{html.escape(body)}</p>'
                f'<a href="{link}" style="background:#4f46e5;color:#ffffff;padding:12px 20px;'
                'border-radius:6px;text-decoration:none;display:inline-block;">Read more</a>'
                "</td></tr>"
            )
        unsubscribe = f"https://{domain}/unsubscribe?u={token}"
        text_lines += ["--", f"{vendor} Inc., 548 Market St, San Francisco", unsubscribe]
        doc = (
            '<!DOCTYPE html PUBLIC "-//W3C//DTD XHTML 1.0 Transitional//EN" '
            '"http://www.w3.org/TR/xhtml1/DTD/xhtml1-transitional.dtd">\n<html><head>'
            '<meta http-equiv="Content-Type" content="text/html; charset=UTF-8">'
            f'<title>{html.escape(subject)}</title><style type="text/css">body{{margin:0;'
            "padding:0}}@media only screen and (max-width:600px){.container{width:100%!important}}"
            '</style></head><body style="margin:0;padding:0;background-color:#f4f4f7;"><center>'
            '<table role="presentation" width="100%" cellpadding="0" cellspacing="0"><tr>'
            '<td align="center"><table class="container" width="600" cellpadding="0" '
            'cellspacing="0" style="background:#ffffff;">\n<tr><td style="padding:24px 32px;">'
            f'<img src="https://cdn.{domain}/logo.png" alt="{vendor}" width="120" height="32" '
            'style="display:block;border:0;"></td></tr>\n'
            + "\n".join(rows)
            + '\n<tr><td style="padding:24px 32px;font-size:12px;color:#888888;">'
            f'<a href="{unsubscribe}">Unsubscribe</a></td></tr></table></td></tr></table>'
            f'</center><img src="https://click.{domain}/wf/open?upn={_token(rng, 200)}" '
            'width="1" height="1" alt=""></body></html>\n'
        )
        html_part = self.text_entity("html", doc)
        if rng.random() < 0.75:
            entity = self.multipart(
                "alternative",
                [self.text_entity("plain", "\n".join(text_lines)), html_part],
                "gmail",
            )
        else:
            entity = html_part
        when = w.when()
        sender = Person("", "", f"news@mail.{domain}", lang, vendor)
        headers = self.transport(sender, when)
        headers += [
            f"From: {vendor} <news@mail.{domain}>",
            f"To: {w.person(lang, colleague=True).address}",
            f"Subject: {self.header_text(subject)}",
            f"Date: {format_datetime(when)}",
            f"Message-ID: <{_hex(rng, 24)}@mail.{domain}>",
            f"List-Unsubscribe: <mailto:unsubscribe@mail.{domain}?subject={token}>,\n"
            f" <{unsubscribe}>",
        ]
        if rng.random() < 0.7:
            headers.append("List-Unsubscribe-Post: List-Unsubscribe=One-Click")
        if rng.random() < 0.5:
            headers.append("Precedence: bulk")
        if rng.random() < 0.3:
            headers.append(f"List-Id: {vendor} news <news.{domain}>")
        headers.append(f"X-Mailer: {rng.choice(('Mailchimp Mailer', 'Customer.io', 'SendGrid'))}")
        return "\n".join([*headers, "MIME-Version: 1.0", *entity[0]]) + "\n\n" + entity[1]


# --- Sentry -----------------------------------------------------------------------

_TEMPLATE_FILES = {
    "issue": "issues.payload.json",
    "event_alert": "issue-alerts.payload.json",
    "metric_alert": "metric-alerts.payload.json",
    "error": "errors.payload.json",
    "comment": "comments.payload.json",
    "installation": "installation.payload.json",
}
_APP_ACTOR = {"id": "sentry", "name": "Sentry", "type": "application"}
# Used when the shared Sentry docs are not there: the keys the documented payloads have.
_BUILTIN_TEMPLATES: dict[str, dict[str, Any]] = {
    "issue": {"action": "created", "actor": _APP_ACTOR, "data": {"issue": {}}},
    "event_alert": {
        "action": "triggered",
        "actor": _APP_ACTOR,
        "data": {"event": {"_ref": 1, "_ref_version": 2, "version": "7", "type": "error"}},
    },
    "metric_alert": {
        "action": "critical",
        "actor": _APP_ACTOR,
        "data": {"metric_alert": {"alert_rule": {"dataset": "events", "status": 0}}},
    },
    "error": {
        "action": "created",
        "actor": _APP_ACTOR,
        "data": {"error": {"_ref": 1, "_ref_version": 2, "version": "7", "type": "error"}},
    },
    "comment": {"action": "created", "actor": {"type": "user"}, "data": {"comment": ""}},
    "installation": {"action": "created", "actor": {"type": "user"}, "data": {"installation": {}}},
}
_PROJECTS = (
    ("web-checkout", "javascript"),
    ("storefront", "javascript"),
    ("api-gateway", "go"),
    ("payments", "python"),
    ("search", "python"),
    ("inventory-sync", "python"),
    ("orders", "java"),
    ("backoffice", "ruby"),
    ("notifications", "node"),
)
_EXCEPTIONS = {
    "python": [
        ("KeyError", "'customer_id'"),
        ("OperationalError", "could not connect to server: Connection refused"),
        ("TimeoutError", "upstream request timed out after 30s"),
        ("IntegrityError", 'duplicate key value violates unique constraint "orders_pkey"'),
        ("ValueError", "invalid literal for int() with base 10: ''"),
        ("AttributeError", "'NoneType' object has no attribute 'email'"),
        ("ConnectionError", "HTTPSConnectionPool(host='api.stripe.com', port=443): Max retries"),
        ("ZeroDivisionError", "division by zero"),
    ],
    "javascript": [
        ("TypeError", "Cannot read properties of undefined (reading 'id')"),
        ("ReferenceError", "basketTotal is not defined"),
        ("ChunkLoadError", "Loading chunk {n} failed."),
        ("Error", "Network Error"),
        ("SyntaxError", "Unexpected token '<', \"<!DOCTYPE \"... is not valid JSON"),
        ("UnhandledRejection", "Non-Error promise rejection captured with value: Timeout"),
    ],
    "node": [
        ("AxiosError", "Request failed with status code 502"),
        ("Error", "connect ECONNREFUSED 10.0.4.12:6379"),
        ("TypeError", "Cannot read properties of null (reading 'locale')"),
    ],
    "java": [
        ("NullPointerException", 'Cannot invoke "Customer.getEmail()" because "customer" is null'),
        ("SQLTransientConnectionException", "HikariPool-1 - Connection is not available"),
        ("IllegalStateException", "Order {n} is already settled"),
        ("SocketTimeoutException", "Read timed out"),
    ],
    "go": [
        ("*errors.errorString", "context deadline exceeded"),
        ("runtime.Error", "invalid memory address or nil pointer dereference"),
        ("*net.OpError", "dial tcp 10.0.3.17:5432: connect: connection refused"),
    ],
    "ruby": [
        ("NoMethodError", "undefined method `name' for nil:NilClass"),
        ("ActiveRecord::RecordNotFound", "Couldn't find Order with 'id'={n}"),
        ("Redis::TimeoutError", "Connection timed out"),
    ],
}
_LOG_MESSAGES = (
    "Payment provider returned 502 for order {n}",
    "Failed to send order confirmation email to customer {n}",
    "Retrying job sync_inventory (attempt 5/5)",
    "Slow query on orders took {n} ms",
    "Rate limit reached for partner API",
    "Webhook delivery to {n} endpoints failed",
)
_FRAMES = {
    "python": [
        ("app/orders/service.py", "create_order", "order = Order.objects.get(pk=order_id)"),
        ("app/payments/stripe.py", "charge", "response = self.client.post(url, json=payload)"),
        ("app/api/views.py", "post", "return self.service.handle(request.data)"),
        ("django/core/handlers/base.py", "_get_response", "response = wrapped_callback(request)"),
        ("psycopg2/__init__.py", "connect", "conn = _connect(dsn, connection_factory=factory)"),
        ("app/customers/models.py", "notify", "send_mail(self.email, template, context)"),
    ],
    "javascript": [
        (
            "app:///static/js/checkout.a93e.js",
            "submitPayment",
            "const pc = order.address.postcode;",
        ),
        ("app:///static/js/vendor.4f1c.js", "HTMLButtonElement.onClick", "{snip} e(a.old) {snip}"),
        ("app:///static/js/basket.77b1.js", "updateTotal", "total += line.price * line.qty;"),
        ("app:///static/js/main.0c2d.js", "render", "return h(App, { store });"),
    ],
    "node": [
        ("/srv/app/src/routes/notify.js", "send", "await client.post(url, body);"),
        ("/srv/app/node_modules/axios/lib/core/settle.js", "settle", "reject(new AxiosError(m));"),
        ("/srv/app/src/queue/worker.js", "process", "const job = await queue.next();"),
    ],
    "java": [
        ("OrderService.java", "placeOrder", "Customer customer = repo.find(order.customerId());"),
        ("HikariPool.java", "getConnection", "throw createTimeoutException(startTime);"),
        ("OrderController.java", "create", "return service.placeOrder(request.toOrder());"),
    ],
    "go": [
        ("internal/orders/service.go", "(*Service).Place", "if err := s.db.QueryRowContext(ctx,"),
        ("internal/http/handler.go", "(*Handler).ServeHTTP", "h.next.ServeHTTP(w, r)"),
        ("net/http/server.go", "serverHandler.ServeHTTP", "handler.ServeHTTP(rw, req)"),
    ],
    "ruby": [
        ("app/models/order.rb", "block in charge!", "customer.name.upcase"),
        ("app/controllers/orders_controller.rb", "create", "@order.charge!"),
        ("app/jobs/sync_job.rb", "perform", "Redis.current.get(key)"),
    ],
}
_ENVIRONMENTS = (
    ("production", 52),
    ("prod", 8),
    ("prod-eu", 4),
    ("staging", 15),
    ("development", 5),
    ("canary", 5),
    ("test", 4),
    (None, 7),
)
_LEVELS = (("error", 58), ("fatal", 10), ("warning", 20), ("info", 8), ("debug", 4))
_COMMENTS = (
    "Looking into this now.",
    "Fixed in #{n}, deploying to production.",
    "Same root cause as the checkout timeouts yesterday.",
    "Customer {company} reported this too, ticket {ticket}.",
    "Can we get more logs? I cannot reproduce it locally.",
    "Ich schaue mir das an.",
    "Je regarde ça ce matin.",
    "Lo reviso ahora.",
    "Muting until the release on {day}.",
)
_ALERT_NAMES = ("Sacred Marmot", "Brave Heron", "Quiet Lynx", "Lucky Otter", "Bold Falcon")


def _iso(when: datetime) -> str:
    when = when.astimezone(UTC)
    return f"{when:%Y-%m-%dT%H:%M:%S}.{when.microsecond:06d}Z"


def load_sentry_templates() -> tuple[dict[str, list[dict[str, Any]]], str]:
    """Sentry's documented webhook payloads (and example 001's event) as templates.

    Read at run time so the corpus follows the docs in the shared folder; without
    them, minimal built-in templates keep the benchmark running.
    """
    templates = {resource: [body] for resource, body in _BUILTIN_TEMPLATES.items()}
    found = []
    if WEBHOOK_DOCS.is_dir():
        for resource, name in _TEMPLATE_FILES.items():
            path = WEBHOOK_DOCS / name
            if path.is_file():
                templates[resource] = [json.loads(path.read_text(encoding="utf-8"))]
                found.append(name)
    for path in sorted(EXAMPLES.glob("001-*.sentry.json")) if EXAMPLES.is_dir() else []:
        templates["event_alert"].append(json.loads(path.read_text(encoding="utf-8")))
        found.append(path.name)
    note = ", ".join(found) if found else "built-in minimal templates (shared docs not found)"
    return templates, note


class SentryWriter:
    """Webhook bodies for every resource and action, as JSON bytes."""

    RESOURCES = (
        ("issue", 34),
        ("event_alert", 24),
        ("metric_alert", 15),
        ("error", 14),
        ("comment", 11),
        ("installation", 2),
    )
    ISSUE_ACTIONS = (
        ("created", 40),
        ("resolved", 18),
        ("assigned", 16),
        ("archived", 10),
        ("unresolved", 16),
    )
    METRIC_ACTIONS = (("critical", 45), ("warning", 30), ("resolved", 25))

    def __init__(self, rng: random.Random, templates: dict[str, list[dict[str, Any]]]) -> None:
        self.rng = rng
        self.w = Writer(rng)
        self.templates = templates
        self.org = "harbourline"

    def pick(self, options: Sequence[tuple[Any, int]]) -> Any:
        return self.rng.choices([o for o, _ in options], [w for _, w in options])[0]

    def make(self) -> tuple[str, bytes]:
        rng = self.rng
        resource = self.pick(self.RESOURCES)
        payload = copy.deepcopy(rng.choice(self.templates[resource]))
        payload["installation"] = {"uuid": _uuid(rng)}
        if resource == "issue":
            action = self.pick(self.ISSUE_ACTIONS)
            self.issue(payload, action)
        elif resource == "metric_alert":
            action = self.pick(self.METRIC_ACTIONS)
            self.metric_alert(payload, action)
        elif resource == "comment":
            action = "created"
            self.comment(payload)
        elif resource == "installation":
            action = rng.choice(("created", "deleted"))
            self.installation(payload)
        else:
            action = "triggered" if resource == "event_alert" else "created"
            self.event(payload, "event" if resource == "event_alert" else "error")
        payload["action"] = action
        if "actor" not in payload or (action == "created" and resource != "comment"):
            payload["actor"] = dict(_APP_ACTOR)
        body = json.dumps(payload, ensure_ascii=rng.random() < 0.5, separators=(",", ":"))
        return f"{resource}.{action}", body.encode("utf-8")

    def user_actor(self) -> dict[str, Any]:
        person = self.w.person(self.w.lang(), colleague=True)
        return {"type": "user", "id": self.rng.randint(1, 500_000), "name": person.name}

    def exception(self, platform: str) -> tuple[str, str]:
        exc_type, value = self.rng.choice(_EXCEPTIONS[platform])
        return exc_type, value.replace("{n}", str(self.rng.randint(10, 99_999)))

    def frames(self, platform: str) -> list[dict[str, Any]]:
        rng = self.rng
        key = platform if platform in _FRAMES else "python"
        frames = []
        for _ in range(rng.randint(3, 22)):
            filename, function, line = rng.choice(_FRAMES[key])
            frame: dict[str, Any] = {
                "filename": filename,
                "abs_path": filename if "/" in filename else f"src/main/java/{filename}",
                "function": function,
                "module": filename.rsplit(".", 1)[0].replace("/", "."),
                "lineno": rng.randint(1, 900),
                "colno": rng.randint(1, 120) if platform in ("javascript", "node") else None,
                "in_app": not filename.startswith(("django", "psycopg2", "net/", "Hikari")),
                "context_line": line,
                "data": {"orig_in_app": 1} if rng.random() < 0.3 else None,
            }
            if rng.random() < 0.5:
                frame["pre_context"] = ["", "    # validated upstream", f"    {function}_started()"]
                frame["post_context"] = ["    return result", "", ""]
            if platform == "python" and rng.random() < 0.4:
                frame["vars"] = {"order_id": f"'{rng.randint(1000, 99999)}'", "retry": "False"}
            frames.append(frame)
        return frames

    def event(self, payload: dict[str, Any], key: str) -> None:
        rng, w = self.rng, self.w
        data = payload.setdefault("data", {})
        base = data.get(key)
        event: dict[str, Any] = base if isinstance(base, dict) else {}
        data[key] = event
        project, platform = rng.choice(_PROJECTS)
        when = w.when()
        event_id, issue_id = _hex(rng, 32), str(rng.randint(10**9, 7 * 10**9))
        level = self.pick(_LEVELS)
        environment = self.pick(_ENVIRONMENTS)
        release = f"{project}@{when:%Y.%m.%d}-{rng.randint(1, 9)}"
        transaction = rng.choice(("/checkout/payment", "/api/orders", "/login", "sync_inventory"))
        handled = rng.random() < 0.4
        tags = [["level", level], ["release", release], ["transaction", transaction]]
        tags.append(["handled", "yes" if handled else "no"])
        if environment is not None:
            tags.append(["environment", environment])
        if platform == "javascript":
            browser = rng.choice(("Chrome 122.0.6261", "Safari 17.3", "Firefox 123.0", "Edge 121"))
            os_name = rng.choice(("Windows", "Mac OS X", "iOS", "Android"))
            tags += [["browser", browser], ["browser.name", browser.split()[0]]]
            tags += [["os.name", os_name], ["url", f"https://www.{OUR_DOMAIN}{transaction}"]]
            contexts: dict[str, Any] = {
                "browser": {"name": browser.split()[0], "version": browser.split()[-1]},
                "os": {"name": os_name, "type": "os"},
            }
        else:
            server = f"{project}-{_hex(rng, 5)}"
            tags += [["server_name", server], ["runtime", platform]]
            contexts = {
                "runtime": {"name": platform, "type": "runtime"},
                "trace": {"trace_id": _hex(rng, 32), "span_id": _hex(rng, 16), "op": "http.server"},
            }
        if rng.random() < 0.4:
            tags.append(["customer.tier", rng.choice(("standard", "premium", "enterprise"))])
        if rng.random() < 0.6:
            tags.append(["user", f"id:{rng.randint(1, 999_999)}"])
        if rng.random() < 0.3:
            tags.append(["mechanism", rng.choice(("onerror", "generic", "celery", "logging"))])
        logged = rng.random() < 0.15  # a logged message, not an exception
        stamp: Any = _iso(when) if rng.random() < 0.7 else round(when.timestamp(), 3)
        event.update(
            event_id=event_id,
            issue_id=issue_id,
            groupID=issue_id,
            issue_url=f"https://sentry.io/api/0/issues/{issue_id}/",
            level=level,
            platform=platform,
            project=rng.randint(1000, 9_999_999),
            release=release,
            transaction=transaction,
            datetime=_iso(when),
            timestamp=stamp,
            received=stamp,
            tags=tags,
            contexts=contexts,
            url=f"https://sentry.io/api/0/projects/{self.org}/{project}/events/{event_id}/",
            web_url=f"https://{self.org}.sentry.io/issues/{issue_id}/events/{event_id}/",
            hashes=[_hex(rng, 32)],
            user={"id": str(rng.randint(1, 999_999)), "ip_address": "{{auto}}"},
            request={
                "url": f"https://www.{OUR_DOMAIN}{transaction}",
                "method": rng.choice(("GET", "POST")),
                "headers": [["User-Agent", "Mozilla/5.0 (Windows NT 10.0; Win64; x64)"]],
            },
            sdk={
                "name": f"sentry.{platform}",
                "version": f"{rng.randint(5, 8)}.{rng.randint(0, 50)}.0",
            },
        )
        if environment is None:
            event.pop("environment", None)
        else:
            event["environment"] = environment
        if logged:
            message = rng.choice(_LOG_MESSAGES).replace("{n}", str(rng.randint(10, 9999)))
            event.pop("exception", None)
            event.update(
                message=message,
                logentry={"formatted": message, "message": message, "params": []},
                title=message,
                culprit=transaction,
                metadata={"title": message},
            )
        else:
            chain = [self.exception(platform) for _ in range(rng.choices((1, 2), (80, 20))[0])]
            values: list[dict[str, Any]] = [
                {
                    "type": exc_type,
                    "value": value,
                    "mechanism": {"type": "generic", "handled": handled},
                    "stacktrace": {"frames": self.frames(platform)},
                }
                for exc_type, value in chain
            ]
            exc_type, value = chain[-1]
            top = values[-1]["stacktrace"]["frames"][-1]
            event.update(
                exception={"values": values},
                message="",
                title=f"{exc_type}: {value}"[:120],
                culprit=f"{top['function']}({top['module']})",
                location=top["filename"],
                metadata={"type": exc_type, "value": value, "filename": top["filename"]},
            )
        if key == "event":
            rule = rng.choice(
                (
                    "A new issue is created",
                    "Checkout error repeated for the same user (5+ in 30m)",
                    "Error rate above 1% in production",
                    "Regression in payments",
                    f"More than {rng.choice((10, 50, 100))} events in 1h",
                )
            )
            data["triggered_rule"] = rule
            data["issue_alert"] = {
                "title": rule,
                "settings": [{"name": "channel", "value": rng.choice(("#alerts", "#oncall"))}],
            }

    def issue(self, payload: dict[str, Any], action: str) -> None:
        rng, w = self.rng, self.w
        data = payload.setdefault("data", {})
        issue: dict[str, Any] = data.get("issue") if isinstance(data.get("issue"), dict) else {}
        data["issue"] = issue
        project, platform = rng.choice(_PROJECTS)
        first = w.when()
        last = first + timedelta(minutes=_count(rng, 1, 20_000))
        issue_id = str(rng.randint(10**9, 7 * 10**9))
        exc_type, value = self.exception(platform)
        status, substatus = {
            "created": ("unresolved", "new"),
            "resolved": ("resolved", None),
            "assigned": ("unresolved", "ongoing"),
            "archived": ("ignored", "archived_until_escalating"),
            "unresolved": ("unresolved", "regressed"),
        }[action]
        assigned: Any = None
        if action == "assigned" or rng.random() < 0.2:
            person = w.person(w.lang(), colleague=True)
            assigned = rng.choice(
                (
                    {
                        "type": "user",
                        "id": str(rng.randint(1, 99999)),
                        "name": person.name,
                        "email": person.address,
                    },
                    {"type": "team", "id": str(rng.randint(1, 999)), "name": f"#{project}"},
                )
            )
        issue.update(
            id=issue_id,
            shortId=f"{project.upper()}-{rng.randint(1, 4000):X}",
            title=f"{exc_type}: {value}"[:120],
            culprit=f"{rng.choice(_FRAMES.get(platform, _FRAMES['python']))[1]}({project})",
            level=self.pick(_LEVELS),
            count=str(_count(rng, 1, 250_000)),
            userCount=_count(rng, 1, 60_000) - 1,
            firstSeen=_iso(first),
            lastSeen=_iso(last),
            status=status,
            substatus=substatus,
            statusDetails={"inRelease": "latest"} if action == "resolved" else {},
            assignedTo=assigned,
            platform=platform,
            project={
                "id": str(rng.randint(1, 999)),
                "name": project,
                "slug": project,
                "platform": platform,
            },
            metadata={"type": exc_type, "value": value, "filename": f"{project}/main"},
            numComments=rng.randint(0, 12),
            web_url=f"https://{self.org}.sentry.io/issues/{issue_id}/",
            permalink=None,
        )
        if action != "created":
            payload["actor"] = self.user_actor() if rng.random() < 0.7 else dict(_APP_ACTOR)

    def metric_alert(self, payload: dict[str, Any], action: str) -> None:
        rng, w = self.rng, self.w
        data = payload.setdefault("data", {})
        base = data.get("metric_alert")
        alert: dict[str, Any] = base if isinstance(base, dict) else {}
        data["metric_alert"] = alert
        project, _ = rng.choice(_PROJECTS)
        aggregate, unit, query, name = rng.choice(
            (
                ("count()", "events", "level:error", "Too many errors"),
                ("p95(transaction.duration)", "ms p95", "transaction:/checkout", "Slow checkout"),
                ("failure_rate()", "% failure rate", "", "Payment failure rate"),
                ("count_unique(user)", "users affected", "level:fatal", "Crashing users"),
            )
        )
        critical = rng.choice((100, 500, 1000, 5, 2000))
        warning = critical * 0.7
        value = {"critical": critical * rng.uniform(1, 3), "warning": warning * rng.uniform(1, 1.4)}
        measured = round(value.get(action, warning * rng.uniform(0.1, 0.6)), 1)
        window = rng.choice((1, 5, 10, 15, 60))
        started = w.when()
        label = {"critical": "Critical", "warning": "Warning", "resolved": "Resolved"}[action]
        rule_id = str(rng.randint(1, 9999))
        rule_base = alert.get("alert_rule")
        rule: dict[str, Any] = dict(rule_base) if isinstance(rule_base, dict) else {}
        rule.update(
            aggregate=aggregate,
            environment=self.pick(_ENVIRONMENTS),
            id=rule_id,
            name=f"{name} ({project})",
            projects=[project],
            query=query,
            resolve_threshold=round(warning * 0.5, 1) if rng.random() < 0.5 else None,
            threshold_type=0,
            time_window=window,
            triggers=[
                {"label": "critical", "alert_threshold": critical, "threshold_type": 0},
                {"label": "warning", "alert_threshold": warning, "threshold_type": 0},
            ],
        )
        status = {"critical": 20, "warning": 10, "resolved": 2}[action]
        alert.update(
            alert_rule=rule,
            date_started=_iso(started),
            date_detected=_iso(started),
            date_created=_iso(started),
            date_closed=_iso(started + timedelta(minutes=rng.randint(5, 300)))
            if action == "resolved"
            else None,
            id=str(rng.randint(1, 99999)),
            identifier=str(rng.randint(1, 9999)),
            projects=[project],
            status=status,
            title=rng.choice(_ALERT_NAMES),
        )
        newline = "\\n" if rng.random() < 0.5 else "\n"  # Sentry's docs escape it; others do not
        data["description_title"] = f"{label}: {name} ({project})"
        data["description_text"] = (
            f"{measured:g} {unit} in the last {window} minutes{newline}Filter: {query or 'none'}"
        )
        data["web_url"] = f"https://{self.org}.sentry.io/alerts/rules/details/{rule_id}/"

    def comment(self, payload: dict[str, Any]) -> None:
        rng, w = self.rng, self.w
        slots = w.slots("en")
        text = rng.choice(_COMMENTS).format_map(slots)
        if rng.random() < 0.3:
            text += "\n\n" + w.paragraph(rng.choice(("outage", "question")), "en", slots)
        payload["data"] = {
            "comment": text,
            "project_slug": rng.choice(_PROJECTS)[0],
            "comment_id": rng.randint(1, 10**7),
            "issue_id": rng.randint(10**9, 7 * 10**9),
            "timestamp": _iso(w.when()),
        }
        payload["actor"] = self.user_actor()

    def installation(self, payload: dict[str, Any]) -> None:
        rng = self.rng
        payload["data"] = {
            "installation": {
                "app": {"uuid": _uuid(rng), "slug": "harbourline-intake"},
                "organization": {"slug": self.org},
                "uuid": _uuid(rng),
                "status": "installed",
            }
        }
        payload["actor"] = self.user_actor()


# --- Telegram ---------------------------------------------------------------------

_EMOJI = ("🚨", "🔥", "⚠️", "🔴", "✅", "👀", "🙏", "😅", "👍", "💥", "📉", "☕", "🎂")
_USERNAMES = ("sam_dispatch", "maya_ops", "oncall_lead", "jens_sre", "cs_team", "lucia_soporte")
_HASHTAGS = ("incident", "checkout", "ops", "payments", "status", "störung", "panne")
_ACKS = {
    "en": ("same here", "+1", "on it", "confirmed, I see it too", "fixed?", "who is looking?"),
    "de": ("bei mir auch", "schaue ich mir an", "bestätigt", "schon behoben?"),
    "fr": ("pareil ici", "je regarde", "confirmé", "c'est réglé ?"),
    "es": ("a mí también", "lo miro", "confirmado", "¿ya está arreglado?"),
}
_CHATS = (
    ("Ops · London Dispatch", "supergroup", "en"),
    ("Incidents – Harbourline", "supergroup", "en"),
    ("Platform on-call", "supergroup", "en"),
    ("Harbourline random ☕", "supergroup", "en"),
    ("Support DE", "supergroup", "de"),
    ("Équipe support FR", "group", "fr"),
    ("Soporte ES", "supergroup", "es"),
)


class _Text:
    """Text built piece by piece, with entities at UTF-16 offsets as Telegram sends them."""

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.offset = 0
        self.entities: list[dict[str, Any]] = []

    def add(self, text: str, kind: str | None = None, **extra: Any) -> None:
        if kind is not None:
            entity = {"offset": self.offset, "length": _u16(text), "type": kind, **extra}
            self.entities.append(entity)
        self.parts.append(text)
        self.offset += _u16(text)

    @property
    def text(self) -> str:
        return "".join(self.parts)


class TelegramWriter:
    """Bot API Update objects, as JSON bytes."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.w = Writer(rng)
        self.update_id = rng.randint(100_000_000, 900_000_000)
        self.message_id = rng.randint(1_000, 50_000)
        self.chats = [
            {
                "id": -1_000_000_000_000 - rng.randint(10**9, 9 * 10**9),
                "title": title,
                "type": kind,
                **({"is_forum": rng.random() < 0.3} if kind == "supergroup" else {}),
            }
            for title, kind, _ in _CHATS
        ]
        self.chat_langs = [lang for _, _, lang in _CHATS]
        self.channel = {
            "id": -1_000_000_000_000 - rng.randint(10**9, 9 * 10**9),
            "title": "Harbourline status",
            "type": "channel",
            "username": "harbourline_status",
        }
        self.bot = {
            "id": rng.randint(10**9, 8 * 10**9),
            "is_bot": True,
            "first_name": "Grafana",
            "username": "harbour_alerts_bot",
        }

    def user(self, lang: str) -> dict[str, Any]:
        rng = self.rng
        person = self.w.person(lang, colleague=rng.random() < 0.7)
        user: dict[str, Any] = {
            "id": rng.randint(10**8, 8 * 10**9),
            "is_bot": False,
            "first_name": person.first,
        }
        if rng.random() < 0.7:
            user["last_name"] = person.last
        if rng.random() < 0.65:
            user["username"] = _ascii(person.first) + rng.choice(("", "_ops", "_", "123"))
        if rng.random() < 0.8:
            user["language_code"] = lang
        return user

    def compose(self, lang: str, kind: str, command: str | None = None) -> _Text:
        rng, w = self.rng, self.w
        slots = w.slots(lang)
        out = _Text()
        if command is not None:
            out.add(command, "bot_command")
            out.add(" ")
        if rng.random() < 0.25:
            out.add(rng.choice(_EMOJI) + " ")
        for i, sentence in enumerate(w.sentences(kind, lang, slots, rng.randint(1, 3))):
            if i:
                out.add("\n" if rng.random() < 0.2 else " ")
            out.add(sentence, "bold" if i == 0 and rng.random() < 0.05 else None)
            if rng.random() < 0.15:
                out.add(" " + rng.choice(_EMOJI))
        if rng.random() < 0.3:
            out.add(" ")
            out.add("@" + rng.choice(_USERNAMES), "mention")
        if rng.random() < 0.05:
            person = self.user(lang)
            person.pop("username", None)  # a text_mention names someone without a username
            out.add(" ")
            out.add(person["first_name"], "text_mention", user=person)
        if rng.random() < 0.1:
            out.add(" ")
            out.add("#" + rng.choice(_HASHTAGS), "hashtag")
        if rng.random() < 0.1:
            out.add(" ")
            out.add(f"https://status.{OUR_DOMAIN}/incidents/{rng.randint(100, 9999)}", "url")
        elif rng.random() < 0.05:
            out.add(" ")
            out.add(
                "dashboard", "text_link", url=f"https://grafana.{OUR_DOMAIN}/d/{_token(rng, 9)}"
            )
        return out

    def alert_text(self) -> _Text:
        rng = self.rng
        out = _Text()
        state = rng.choice(("🔴 [FIRING:1]", "✅ [RESOLVED]"))
        out.add(
            f"{state} HighErrorRate {rng.choice(_PROJECTS)[0]} "
            f"({self.pick_env()})\nerror rate {rng.randint(2, 60)}% > 5% for "
            f"{rng.choice((5, 10, 15))}m\n"
        )
        out.add(f"https://grafana.{OUR_DOMAIN}/alerting/list", "url")
        return out

    def pick_env(self) -> str:
        return self.rng.choice(("production", "production", "staging"))

    def make(self) -> tuple[str, bytes]:
        rng, w = self.rng, self.w
        self.update_id += rng.randint(1, 3)
        self.message_id += rng.randint(1, 5)
        update: dict[str, Any] = {"update_id": self.update_id}
        date = int(w.when().timestamp())
        roll = rng.random()
        if roll < 0.02:  # a button press: no message to read
            update["callback_query"] = {
                "id": str(rng.getrandbits(60)),
                "from": self.user("en"),
                "chat_instance": str(rng.getrandbits(62)),
                "data": f"ack:{rng.randint(1, 999)}",
            }
            label = "callback_query"
        else:
            channel = roll < 0.06
            index = rng.randrange(len(self.chats))
            chat = self.channel if channel else self.chats[index]
            lang = "en" if channel else self.chat_langs[index]
            if rng.random() < 0.3 and not channel:
                lang = w.lang()
            message: dict[str, Any] = {"message_id": self.message_id, "date": date, "chat": chat}
            label = self.fill(message, chat, lang, channel, date)
            edited = rng.random() < 0.1
            if edited:
                message["edit_date"] = date + rng.randint(10, 900)
                label = "edited " + label
            key = ("edited_" if edited else "") + ("channel_post" if channel else "message")
            update[key] = message
        body = json.dumps(update, ensure_ascii=rng.random() < 0.6, separators=(",", ":"))
        return label, body.encode("utf-8")

    def fill(
        self, message: dict[str, Any], chat: dict[str, Any], lang: str, channel: bool, date: int
    ) -> str:
        """Fill in a message's sender, text or caption, reply, forward; returns its label."""
        rng, w = self.rng, self.w
        if channel:
            message["sender_chat"] = chat
            if rng.random() < 0.5:
                message["author_signature"] = w.person("en", colleague=True).name
        elif rng.random() < 0.04:
            message["from"] = self.bot
        else:
            message["from"] = self.user(lang)
        if chat.get("is_forum"):
            message["message_thread_id"] = rng.randint(2, 400)
            message["is_topic_message"] = True
        roll = rng.random()
        if not channel and roll < 0.04:  # a sticker, a location, a join: nothing to triage
            what = rng.choice(("sticker", "location", "new_chat_members"))
            message[what] = {
                "sticker": {
                    "file_id": _token(rng, 60),
                    "emoji": rng.choice(_EMOJI),
                    "width": 512,
                    "height": 512,
                    "is_animated": False,
                    "is_video": False,
                    "type": "regular",
                },
                "location": {"latitude": rng.uniform(40, 55), "longitude": rng.uniform(-5, 15)},
                "new_chat_members": [self.user(lang)],
            }[what]
            return "no text"
        if message.get("from") is self.bot:
            text = self.alert_text()
            label = "bot alert"
        else:
            command = None
            if not channel and rng.random() < 0.14:
                name = rng.choice(("/incident", "/incident", "/status", "/ack", "/help", "/report"))
                command = name + ("@harbour_intake_bot" if rng.random() < 0.4 else "")
            kind = w.kind()
            text = self.compose(lang, kind, command)
            label = "command" if command else "text"
        if not channel and rng.random() < 0.1:
            media = rng.choice(("photo", "document"))
            if media == "photo":
                message["photo"] = [
                    {
                        "file_id": _token(rng, 70),
                        "file_unique_id": _token(rng, 15),
                        "file_size": size * 90,
                        "width": size,
                        "height": size * 3 // 4,
                    }
                    for size in (90, 320, 1280)
                ]
            else:
                message["document"] = {
                    "file_name": rng.choice(("error.log", "screenshot.png", "export.csv")),
                    "mime_type": rng.choice(("text/plain", "image/png", "text/csv")),
                    "file_id": _token(rng, 70),
                    "file_unique_id": _token(rng, 15),
                    "file_size": rng.randint(1_000, 900_000),
                }
            message["caption"] = text.text
            if text.entities:
                message["caption_entities"] = text.entities
            label = "caption"
        else:
            message["text"] = text.text
            if text.entities:
                message["entities"] = text.entities
        if not channel and rng.random() < 0.25:
            self.reply(message, chat, lang, date)
            label = "reply" if label == "text" else label
            if label == "reply" and rng.random() < 0.6:  # a reply is often a short ack
                ack = _Text()
                ack.add(rng.choice(_ACKS[lang]))
                message["text"] = ack.text
                message.pop("entities", None)
        if not channel and rng.random() < 0.06:
            self.forward(message, lang, date)
            label = "forward"
        return label

    def reply(self, message: dict[str, Any], chat: dict[str, Any], lang: str, date: int) -> None:
        rng = self.rng
        if rng.random() < 0.3:
            parent_text, author = self.alert_text(), self.bot
        else:
            parent_text, author = self.compose(lang, self.w.kind()), self.user(lang)
        parent: dict[str, Any] = {
            "message_id": message["message_id"] - rng.randint(1, 300),
            "from": author,
            "chat": chat,
            "date": date - rng.randint(30, 7200),
            "text": parent_text.text,
        }
        if parent_text.entities:
            parent["entities"] = parent_text.entities
        message["reply_to_message"] = parent

    def forward(self, message: dict[str, Any], lang: str, date: int) -> None:
        rng = self.rng
        when = date - rng.randint(60, 86_400)
        kind = rng.choice(("user", "hidden_user", "channel"))
        if kind == "user":
            user = self.user(lang)
            message["forward_origin"] = {"type": "user", "sender_user": user, "date": when}
            if rng.random() < 0.5:  # clients before Bot API 7 still read these
                message["forward_from"] = user
                message["forward_date"] = when
        elif kind == "hidden_user":
            name = self.w.person(lang).name
            message["forward_origin"] = {
                "type": "hidden_user",
                "sender_user_name": name,
                "date": when,
            }
        else:
            message["forward_origin"] = {
                "type": "channel",
                "chat": self.channel,
                "message_id": rng.randint(10, 9999),
                "date": when,
            }


# --- the corpus -------------------------------------------------------------------


@dataclass
class Corpus:
    emails: list[bytes]
    email_shapes: Counter[str]
    email_langs: Counter[str]
    email_features: Counter[str]
    sentry: list[bytes]
    sentry_kinds: Counter[str]
    telegram: list[bytes]
    telegram_kinds: Counter[str]
    sentry_templates: str


def build_corpus(n: int, seed: int) -> Corpus:
    """`n` inputs per source; the same `seed` gives the same bytes."""
    # One generator per source: changing how emails are made leaves Sentry's bytes alone.
    emails = EmailWriter(random.Random(f"{seed}:email"))
    email_items = [emails.make() for _ in range(n)]
    templates, note = load_sentry_templates()
    sentry = SentryWriter(random.Random(f"{seed}:sentry"), templates)
    sentry_items = [sentry.make() for _ in range(n)]
    telegram = TelegramWriter(random.Random(f"{seed}:telegram"))
    telegram_items = [telegram.make() for _ in range(n)]
    return Corpus(
        emails=[raw for _, _, raw in email_items],
        email_shapes=Counter(shape for shape, _, _ in email_items),
        email_langs=Counter(lang for _, lang, _ in email_items),
        email_features=emails.features,
        sentry=[body for _, body in sentry_items],
        sentry_kinds=Counter(kind for kind, _ in sentry_items),
        telegram=[body for _, body in telegram_items],
        telegram_kinds=Counter(kind for kind, _ in telegram_items),
        sentry_templates=note,
    )


def example_bytes() -> set[bytes]:
    """The shared examples' bytes, so the benchmark can prove none is a corpus item."""
    if not EXAMPLES.is_dir():
        return set()
    return {path.read_bytes() for path in EXAMPLES.iterdir() if path.is_file()}
