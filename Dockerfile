# pop3-exporter image.
#   docker build -t pop3-exporter .
#   docker run -p 19110:19110 -v /etc/pop3-exporter:/etc/pop3-exporter:ro \
#       -v pop3-state:/var/lib/pop3-exporter pop3-exporter
# The config is read from /etc/pop3-exporter/config.yml; set
# state_file: /var/lib/pop3-exporter/state.json in it so restarts count no mail twice.
FROM python:3.12-slim AS build
WORKDIR /src
COPY pyproject.toml README.md LICENSE ./
COPY custom_components/pop3_monitor/pop3probe custom_components/pop3_monitor/pop3probe
COPY exporter exporter
RUN pip wheel --no-cache-dir --wheel-dir /wheels .

FROM python:3.12-slim
RUN useradd --system --uid 10110 --home-dir /var/lib/pop3-exporter pop3 \
    && mkdir -p /var/lib/pop3-exporter /etc/pop3-exporter \
    && chown pop3 /var/lib/pop3-exporter
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir /wheels/*.whl && rm -rf /wheels
USER pop3
VOLUME /var/lib/pop3-exporter
EXPOSE 19110
HEALTHCHECK --interval=30s --timeout=5s \
    CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:19110/-/healthy', timeout=4)"
# SIGTERM (docker stop) lets running polls end with QUIT and writes the state file.
STOPSIGNAL SIGTERM
ENTRYPOINT ["pop3-exporter"]
CMD ["--config", "/etc/pop3-exporter/config.yml", "--web.listen-address", ":19110"]
